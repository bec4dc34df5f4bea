"""The REST examples of Google's "Image understanding" guide for the Gemini API, run with the
real ``curl`` binary against the emulator.

The shell snippets are the guide's curl examples, with the host replaced by the emulator's base
URL and ``jq`` replaced by Python, so the checks need nothing but curl and coreutils. They
exercise what a hand-written client would not: snake_case keys, a trailing comma in the JSON, a
single-quoted upload body, header dumps with ``-D``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemini_vision.demo import scenes
from gemini_vision.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

KEY = "curl-key"


def json_field(filename: str, *keys: str, quoted: bool = False) -> str:
    """A shell command printing a field of a JSON file (where the guide uses ``jq``)."""
    expr = f"json.load(open({filename!r}))" + "".join(f"[{key!r}]" for key in keys)
    if quoted:
        expr = f"json.dumps({expr})"
    return f'"{sys.executable}" -c "import json; print({expr})"'


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(batch_pending_time=0.0, batch_running_time=0.05)) as server:
        yield server


SCENE = scenes.generate_scene(5, (320, 240), n_objects=3)
CHANGED, CHANGE = scenes.variant(SCENE, seed=1)  # "the <colour> <shape> was removed/became"


def answer_text(response: dict) -> str:
    parts = response["candidates"][0]["content"]["parts"]
    return "".join(p["text"] for p in parts if not p.get("thought")).lower()


def assert_caption_names_every_object(response: dict) -> None:
    text = answer_text(response)
    missing = [w for w in {*SCENE.class_counts, *SCENE.color_counts} if w not in text]
    assert not missing, f"{missing} not in {text!r}"


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    scene, changed = SCENE, CHANGED
    return {
        "jpg": scenes.save_scene(scene, tmp_path / "sample.jpg", quality=80),
        # small: the guide passes it base64 in one argument, and Linux caps one at 128 KiB
        "png": scenes.save_scene(changed.image.resize((160, 120)), tmp_path / "image2.png"),
    }


def run(script: str, cwd: Path, emu: Emulator, **env: str) -> str:
    """Runs a bash snippet with the guide's variables set; returns its stdout."""
    variables = {
        **os.environ,
        "GEMINI_API_KEY": KEY,
        "BASE_URL": emu.base_url,
        **{k: str(v) for k, v in env.items()},
    }
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=variables,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_inline_base64_request_with_snake_case_keys(emu: Emulator, images, tmp_path: Path):
    # Verbatim from the guide, including the trailing comma after the text part.
    script = """
    if [[ "$(base64 --version 2>&1)" = *"FreeBSD"* ]]; then
      B64FLAGS="--input"
    else
      B64FLAGS="-w0"
    fi
    curl "$BASE_URL/v1beta/models/gemini-2.5-flash:generateContent" \\
        -H "x-goog-api-key: $GEMINI_API_KEY" \\
        -H 'Content-Type: application/json' \\
        -X POST \\
        -d '{
          "contents": [{
            "parts":[
                {
                  "inline_data": {
                    "mime_type":"image/jpeg",
                    "data": "'"$(base64 $B64FLAGS $IMG_PATH)"'"
                  }
                },
                {"text": "Caption this image."},
            ]
          }]
        }' 2> /dev/null
    """
    response = json.loads(run(script, tmp_path, emu, IMG_PATH=images["jpg"]))
    candidate = response["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert_caption_names_every_object(response)
    assert response["usageMetadata"]["promptTokensDetails"][-1] == {
        "modality": "IMAGE",
        "tokenCount": 258,
    }


UPLOAD_START = """
MIME_TYPE=$(file -b --mime-type "${IMAGE_PATH}" 2>/dev/null || echo image/jpeg)
NUM_BYTES=$(wc -c < "${IMAGE_PATH}")
DISPLAY_NAME=IMAGE
tmp_header_file=upload-header.tmp

curl "$BASE_URL/upload/v1beta/files" \\
  -H "x-goog-api-key: $GEMINI_API_KEY" \\
  -D upload-header.tmp \\
  -H "X-Goog-Upload-Protocol: resumable" \\
  -H "X-Goog-Upload-Command: start" \\
  -H "X-Goog-Upload-Header-Content-Length: ${NUM_BYTES}" \\
  -H "X-Goog-Upload-Header-Content-Type: ${MIME_TYPE}" \\
  -H "Content-Type: application/json" \\
  -d "{'file': {'display_name': '${DISPLAY_NAME}'}}" 2> /dev/null

upload_url=$(grep -i "x-goog-upload-url: " "${tmp_header_file}" | cut -d" " -f2 | tr -d "\\r")
rm "${tmp_header_file}"

"""


def upload_script(*, key_on_chunk: bool = True) -> str:
    """The guide's resumable upload: start with a header dump, then one finalize chunk.

    The guide's single-image flow sends the key on the chunk too; its multi-image flow does
    not (the session URL authorises the chunk).
    """
    chunk_key = '  -H "x-goog-api-key: $GEMINI_API_KEY" \\\n' if key_on_chunk else ""
    return (
        UPLOAD_START
        + 'curl "${upload_url}" \\\n'
        + chunk_key
        + """  -H "Content-Length: ${NUM_BYTES}" \\
  -H "X-Goog-Upload-Offset: 0" \\
  -H "X-Goog-Upload-Command: upload, finalize" \\
  --data-binary "@${IMAGE_PATH}" 2> /dev/null > file_info.json
"""
    )


def test_resumable_upload_then_generate_with_file_data(emu: Emulator, images, tmp_path: Path):
    script = (
        upload_script()
        + f"file_uri=$({json_field('file_info.json', 'file', 'uri')})\n"
        + """
    curl "$BASE_URL/v1beta/models/gemini-2.5-flash:generateContent" \\
        -H "x-goog-api-key: $GEMINI_API_KEY" \\
        -H 'Content-Type: application/json' \\
        -X POST \\
        -d '{
          "contents": [{
            "parts":[
              {"file_data":{"mime_type": "'"${MIME_TYPE}"'", "file_uri": "'"${file_uri}"'"}},
              {"text": "Caption this image."}]
            }]
          }' 2> /dev/null > response.json
    cat response.json
    """
    )
    response = json.loads(run(script, tmp_path, emu, IMAGE_PATH=images["jpg"]))
    file = json.loads((tmp_path / "file_info.json").read_text())["file"]
    assert file["displayName"] == "IMAGE"
    assert file["mimeType"] == "image/jpeg"
    assert file["sizeBytes"] == str(images["jpg"].stat().st_size)
    assert file["state"] == "ACTIVE"
    assert file["uri"].startswith(emu.base_url + "/v1beta/files/")
    assert_caption_names_every_object(response)
    assert not (tmp_path / "upload-header.tmp").exists()


def test_two_images_uploaded_and_inline(emu: Emulator, images, tmp_path: Path):
    # The guide's multi-image flow: the chunk request has no API key, and the file URI is
    # pasted as a quoted JSON string.
    script = (
        upload_script(key_on_chunk=False)
        + f"file1_uri=$({json_field('file_info.json', 'file', 'uri', quoted=True)})\n"
        + """
    IMAGE2_BASE64=$(base64 -w0 $IMAGE2_PATH)
    curl "$BASE_URL/v1beta/models/gemini-2.5-flash:generateContent" \\
        -H "x-goog-api-key: $GEMINI_API_KEY" \\
        -H 'Content-Type: application/json' \\
        -X POST \\
        -d '{
          "contents": [{
            "parts":[
              {"text": "What is different between these two images?"},
              {"file_data":{"mime_type": "'"${MIME_TYPE}"'", "file_uri": '$file1_uri'}},
              {
                "inline_data": {
                  "mime_type":"image/png",
                  "data": "'"$IMAGE2_BASE64"'"
                }
              }
            ]
          }]
        }' 2> /dev/null
    """
    )
    response = json.loads(
        run(script, tmp_path, emu, IMAGE_PATH=images["jpg"], IMAGE2_PATH=images["png"])
    )
    details = response["usageMetadata"]["promptTokensDetails"]
    assert {"modality": "IMAGE", "tokenCount": 2 * 258} in details
    changed_object = " ".join(CHANGE.split()[1:3])
    assert changed_object in answer_text(response)


def test_key_as_query_parameter_and_missing_key(emu: Emulator, tmp_path: Path):
    body = '{"contents": [{"parts": [{"text": "Hello"}]}]}'
    ok = run(
        "curl -s -X POST"
        ' "$BASE_URL/v1beta/models/gemini-2.5-flash:generateContent?key=$GEMINI_API_KEY"'
        f" -H 'Content-Type: application/json' -d '{body}'",
        tmp_path,
        emu,
    )
    assert json.loads(ok)["candidates"]
    denied = run(
        "curl -s -o - -w '\\n%{http_code}' -X POST"
        ' "$BASE_URL/v1beta/models/gemini-2.5-flash:generateContent"'
        f" -H 'Content-Type: application/json' -d '{body}'",
        tmp_path,
        emu,
    )
    payload, status = denied.rsplit("\n", 1)
    assert status == "403"
    assert json.loads(payload)["error"]["status"] == "PERMISSION_DENIED"


def test_sse_stream_with_curl(emu: Emulator, tmp_path: Path):
    script = """
    curl -s --no-buffer "$BASE_URL/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" \\
        -H "x-goog-api-key: $GEMINI_API_KEY" -H 'Content-Type: application/json' \\
        -d '{"contents": [{"parts": [{"text": "Write a short story about a red circle."}]}]}'
    """
    # run() reads text with universal newlines: the events' \r\n\r\n arrive as blank lines
    events = [e for e in run(script, tmp_path, emu).split("\n\n") if e.strip()]
    assert len(events) > 1
    chunks = [json.loads(e.removeprefix("data: ")) for e in events]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "usageMetadata" in chunks[-1]


def test_batch_with_snake_case_body_and_docs_download_url(emu: Emulator, tmp_path: Path):
    lines = "".join(
        json.dumps({"key": f"request_{i}", "request": {"contents": [{"parts": [{"text": "hi"}]}]}})
        + "\n"
        for i in range(2)
    )
    (tmp_path / "batch.jsonl").write_text(lines)
    script = (
        upload_script()
        + f"file_name=$({json_field('file_info.json', 'file', 'name')})\n"
        + """
    curl -s "$BASE_URL/v1beta/models/gemini-2.5-flash:batchGenerateContent" \\
        -X POST -H "x-goog-api-key: $GEMINI_API_KEY" -H "Content-Type:application/json" \\
        -d "{'batch': {'display_name': 'my-batch',
             'input_config': {'file_name': '${file_name}'}}}" > created.json
    """
    )
    run(script, tmp_path, emu, IMAGE_PATH=tmp_path / "batch.jsonl")
    created = json.loads((tmp_path / "created.json").read_text())
    assert created["metadata"]["state"] == "BATCH_STATE_PENDING"
    batch_id = created["name"].removeprefix("batches/")
    poll = f"""
    for i in $(seq 1 100); do
      state=$(curl -s "$BASE_URL/v1beta/batches/{batch_id}" -H "x-goog-api-key: $GEMINI_API_KEY")
      case "$state" in *BATCH_STATE_SUCCEEDED*) break;; esac
      sleep 0.05
    done
    curl -s "$BASE_URL/download/v1beta/files/batch-{batch_id}:download?alt=media" \\
        -H "x-goog-api-key: $GEMINI_API_KEY"
    """
    results = [json.loads(line) for line in run(poll, tmp_path, emu).splitlines()]
    assert [r["key"] for r in results] == ["request_0", "request_1"]
    assert all(r["response"]["candidates"] for r in results)
