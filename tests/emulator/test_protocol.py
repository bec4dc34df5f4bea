"""The emulator speaks the Gemini REST protocol: envelopes, errors, auth, Files API, batches.

Every test talks to a real emulator over a socket with plain httpx, and checks the wire form
of the Gemini API: what the official google-genai SDK sends and reads, and what Google's API
reference and guides (Files API, Batch Mode, Troubleshooting) show.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from gemini_vision.catalog import estimate_image_tokens, estimate_text_tokens
from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.emulator.model.responder import Reply

KEY = "test-key-123"
MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"


def image_bytes(size: tuple[int, int] = (64, 48), fmt: str = "PNG", color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_request(data: bytes, text: str = "Caption this image.", **extra: Any) -> dict:
    parts = [{"inlineData": {"mimeType": "image/png", "data": b64(data)}}, {"text": text}]
    return {"contents": [{"parts": parts}], **extra}


def text_request(text: str = "Hello", **extra: Any) -> dict:
    return {"contents": [{"parts": [{"text": text}]}], **extra}


def fixed_answer(text: str):
    """A responder that always answers ``text`` (protocol tests need no vision)."""

    def respond(request: Any, images: list, *, model: str, rng: random.Random) -> Reply:
        return Reply(text=text, kind="detect")

    return respond


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(batch_pending_time=0.05, batch_running_time=0.05)
    with Emulator(config, respond=fixed_answer('[{"box_2d": [1, 2, 3, 4], "label": "x"}]')) as e:
        yield e


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": KEY}) as client:
        yield client


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


# --- generateContent envelope --------------------------------------------------------------


def test_generate_content_envelope_is_camel_case_with_consistent_usage(http: httpx.Client):
    data = image_bytes((640, 480))
    response = http.post(GEN, json=image_request(data))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"candidates", "usageMetadata", "modelVersion", "responseId"}
    assert body["modelVersion"] == MODEL
    assert len(body["responseId"]) > 10
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"] == [{"text": '[{"box_2d": [1, 2, 3, 4], "label": "x"}]'}]
    assert candidate["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    image_tokens = estimate_image_tokens(640, 480, model=MODEL)
    text_tokens = estimate_text_tokens("Caption this image.")
    assert usage["promptTokenCount"] == image_tokens + text_tokens
    assert usage["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": text_tokens},
        {"modality": "IMAGE", "tokenCount": image_tokens},
    ]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


def test_snake_case_request_gets_the_same_answer_as_camel_case(http: httpx.Client):
    data = image_bytes()
    snake = {
        "contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": b64(data)}}]}],
        "generation_config": {"thinking_config": {"thinking_budget": 0}},
    }
    camel = {
        "contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": b64(data)}}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}},
    }
    first, second = http.post(GEN, json=snake).json(), http.post(GEN, json=camel).json()
    assert first["candidates"] == second["candidates"]
    assert first["usageMetadata"] == second["usageMetadata"]
    assert "thoughtsTokenCount" not in first["usageMetadata"]


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda d: base64.b64encode(d).decode(), id="standard-padded"),
        pytest.param(lambda d: base64.urlsafe_b64encode(d).decode(), id="urlsafe-padded"),
        pytest.param(lambda d: base64.urlsafe_b64encode(d).decode().rstrip("="), id="urlsafe"),
        pytest.param(lambda d: base64.b64encode(d).decode().rstrip("="), id="standard"),
    ],
)
def test_inline_data_decodes_in_both_alphabets_with_or_without_padding(
    emu: Emulator, http: httpx.Client, encode
):
    # Bytes with 0xfb/0xff give '+' '/' (standard) or '-' '_' (URL-safe) in base64.
    data = image_bytes((33, 17)) + b"\xfb\xff\xfe"
    part = {"inlineData": {"mimeType": "image/png", "data": encode(data)}}
    response = http.post(GEN, json={"contents": [{"parts": [part]}]})
    assert response.status_code == 200, response.text
    assert emu.stats.image_calls[hashlib.sha256(data).hexdigest()] == 1


def test_invalid_base64_is_a_400_naming_the_field(http: httpx.Client):
    part = {"inlineData": {"mimeType": "image/png", "data": "not base64!!"}}
    error = error_of(http.post(GEN, json={"contents": [{"parts": [part]}]}))
    assert error["code"] == 400
    assert "contents[0].parts[0].inline_data.data" in error["message"]
    assert "Base64 decoding failed" in error["message"]


def test_unknown_field_gets_the_real_400_body(http: httpx.Client):
    body = text_request(generationConfig={"includeThoughts": True})
    response = http.post(GEN, json=body)
    assert response.status_code == 400
    message = (
        'Invalid JSON payload received. Unknown name "includeThoughts" at'
        " 'generation_config': Cannot find field."
    )
    assert response.json() == {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "generation_config", "description": message}],
                }
            ],
        }
    }


def test_unknown_nested_field_path_is_snake_case_with_indices(http: httpx.Client):
    body = {"contents": [{"parts": [{"text": "a", "mimeType": "x"}]}]}
    error = error_of(http.post(GEN, json=body))
    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "mimeType" at'
        " 'contents[0].parts[0]': Cannot find field."
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"contents": []},
            "* GenerateContentRequest.contents: contents is not specified\n",
            id="no-contents",
        ),
        pytest.param(
            {"contents": [{"parts": [{"text": "a"}]}, {"role": "user", "parts": []}]},
            "* GenerateContentRequest.contents[1].parts: contents.parts must not be empty.\n",
            id="empty-parts",
        ),
        pytest.param(
            {"contents": [{"parts": [{"thought": True}]}]},
            "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data'"
            " must have one initialized field\n",
            id="part-without-data",
        ),
    ],
)
def test_semantic_errors_are_bullets(http: httpx.Client, body: dict, expected: str):
    error = error_of(http.post(GEN, json=body))
    assert (error["code"], error["status"], error["message"]) == (
        400,
        "INVALID_ARGUMENT",
        expected,
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        pytest.param(
            {"thinkingConfig": {"thinkingLevel": "low", "thinkingBudget": 10}},
            "thinking_config: thinking_level and thinking_budget cannot both be set",
            id="level-and-budget",
        ),
        pytest.param(
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "ARRAY"},
                "responseJsonSchema": {"type": "array"},
            },
            "response_schema: response_schema and response_json_schema cannot both be set",
            id="two-schemas",
        ),
        pytest.param(
            {"responseJsonSchema": {"type": "array"}},
            "response_mime_type: response_mime_type must be set when response_json_schema",
            id="json-schema-without-mime",
        ),
    ],
)
def test_generation_config_conflicts_are_400_bullets(
    http: httpx.Client, config: dict, fragment: str
):
    error = error_of(http.post(GEN, json=text_request(generationConfig=config)))
    assert error["code"] == 400
    assert error["message"].startswith("* GenerateContentRequest.generation_config.")
    assert fragment in error["message"]
    assert error["message"].endswith("\n")


def test_pro_model_cannot_turn_thinking_off(http: httpx.Client):
    body = text_request(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    error = error_of(http.post("/v1beta/models/gemini-2.5-pro:generateContent", json=body))
    assert error["message"] == "Budget 0 is invalid. This model only works in thinking mode."


def test_thought_parts_only_with_include_thoughts(http: httpx.Client):
    plain = http.post(GEN, json=text_request()).json()
    assert all(not p.get("thought") for p in plain["candidates"][0]["content"]["parts"])
    assert plain["usageMetadata"]["thoughtsTokenCount"] > 0
    body = text_request(generationConfig={"thinkingConfig": {"includeThoughts": True}})
    parts = http.post(GEN, json=body).json()["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"]
    assert "thought" not in parts[1]


def test_thinking_budget_caps_thought_tokens(http: httpx.Client):
    body = text_request(generationConfig={"thinkingConfig": {"thinkingBudget": 50}})
    usage = http.post(GEN, json=body).json()["usageMetadata"]
    assert 0 < usage["thoughtsTokenCount"] <= 50


def test_model_without_thinking_reports_no_thoughts(http: httpx.Client):
    body = text_request()
    usage = http.post("/v1beta/models/gemini-2.0-flash:generateContent", json=body).json()
    assert "thoughtsTokenCount" not in usage["usageMetadata"]


def test_max_output_tokens_counts_thoughts_and_cuts_the_answer(http: httpx.Client):
    config = {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 0}}
    body = http.post(GEN, json=text_request(generationConfig=config)).json()
    candidate = body["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    text = candidate["content"]["parts"][0]["text"]
    assert '[{"box_2d": [1, 2, 3, 4], "label": "x"}]'.startswith(text)
    assert len(text) == 20  # 5 tokens at 4 characters per token
    assert body["usageMetadata"]["candidatesTokenCount"] == 5


def test_thoughts_can_use_the_whole_output_budget(http: httpx.Client):
    body = http.post(GEN, json=text_request(generationConfig={"maxOutputTokens": 3})).json()
    candidate = body["candidates"][0]
    assert candidate == {"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
    usage = body["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 3
    assert "candidatesTokenCount" not in usage
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 3


def test_candidate_count_returns_that_many_candidates(http: httpx.Client):
    body = text_request(generationConfig={"candidateCount": 3})
    candidates = http.post(GEN, json=body).json()["candidates"]
    assert [c["index"] for c in candidates] == [0, 1, 2]


def test_unsupported_mime_type_is_rejected(http: httpx.Client):
    part = {"inlineData": {"mimeType": "image/gif", "data": b64(image_bytes(fmt="GIF"))}}
    error = error_of(http.post(GEN, json={"contents": [{"parts": [part]}]}))
    assert (error["code"], error["message"]) == (400, "Unsupported MIME type: image/gif")


def test_bytes_that_are_not_an_image_are_rejected(http: httpx.Client):
    part = {"inlineData": {"mimeType": "image/jpeg", "data": b64(b"definitely not a jpeg")}}
    error = error_of(http.post(GEN, json={"contents": [{"parts": [part]}]}))
    assert error["code"] == 400
    assert error["message"].startswith("Unable to process input image.")


def test_heic_images_are_decoded(emu: Emulator, http: httpx.Client):
    data = image_bytes((40, 30), fmt="HEIF")
    part = {"inlineData": {"mimeType": "image/heic", "data": b64(data)}}
    response = http.post(GEN, json={"contents": [{"parts": [part]}]})
    assert response.status_code == 200, response.text
    assert response.json()["usageMetadata"]["promptTokensDetails"] == [
        {"modality": "IMAGE", "tokenCount": 258}
    ]


def test_oversized_request_is_rejected(emu: Emulator, http: httpx.Client):
    emu.config.max_request_bytes = 1000
    error = error_of(http.post(GEN, json=image_request(image_bytes((300, 300)))))
    assert error["message"] == "Request payload size exceeds the limit: 1000 bytes."


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_every_api_version_is_served(http: httpx.Client, version: str):
    response = http.post(f"/{version}/models/{MODEL}:generateContent", json=text_request())
    assert response.status_code == 200


def test_unknown_model_is_the_real_404(http: httpx.Client):
    response = http.post("/v1beta/models/gemini-pro:generateContent", json=text_request())
    assert response.status_code == 404
    assert error_of(response) == {
        "code": 404,
        "message": "models/gemini-pro is not found for API version v1beta, or is not supported"
        " for generateContent. Call ListModels to see the list of available models and their"
        " supported methods.",
        "status": "NOT_FOUND",
    }


def test_unknown_path_is_a_404(http: httpx.Client):
    assert http.get("/v1beta/nothing/here").status_code == 404
    assert http.get("/v2/models").status_code == 404


# --- streaming -----------------------------------------------------------------------------


def test_sse_stream_chunks_add_up_to_the_answer(http: httpx.Client):
    stream_url = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = text_request(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    with http.stream("POST", stream_url, json=body) as response:
        assert response.headers["content-type"] == "text/event-stream"
        raw = response.read().decode()
    events = [e for e in raw.split("\r\n\r\n") if e]
    assert len(events) >= 2
    assert all(e.startswith("data: ") for e in events)
    chunks = [json.loads(e.removeprefix("data: ")) for e in events]
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert all("usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert len({c["responseId"] for c in chunks}) == 1
    text = "".join(
        p["text"] for c in chunks for p in c["candidates"][0]["content"].get("parts", [])
    )
    whole = http.post(GEN, json=body).json()
    assert text == whole["candidates"][0]["content"]["parts"][0]["text"]
    assert chunks[-1]["usageMetadata"] == whole["usageMetadata"]


def test_stream_without_sse_is_one_json_array(http: httpx.Client):
    response = http.post(f"/v1beta/models/{MODEL}:streamGenerateContent", json=text_request())
    chunks = response.json()
    assert isinstance(chunks, list)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_errors_are_plain_json_with_the_status(http: httpx.Client):
    url = "/v1beta/models/nope:streamGenerateContent?alt=sse"
    response = http.post(url, json=text_request())
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"


# --- auth ----------------------------------------------------------------------------------


def test_missing_key_is_the_real_403(emu: Emulator):
    response = httpx.post(emu.base_url + GEN, json=text_request())
    assert response.status_code == 403
    error = error_of(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")


def test_bearer_token_without_key_is_401(emu: Emulator):
    headers = {"Authorization": "Bearer ya29.nope"}
    response = httpx.post(emu.base_url + GEN, json=text_request(), headers=headers)
    assert (response.status_code, error_of(response)["status"]) == (401, "UNAUTHENTICATED")


def test_key_query_parameter_is_accepted(emu: Emulator):
    response = httpx.post(f"{emu.base_url}{GEN}?key={KEY}", json=text_request())
    assert response.status_code == 200


def test_rejected_key_is_api_key_invalid_with_details(emu: Emulator, http: httpx.Client):
    emu.config.rejected_api_keys = {KEY}
    error = error_of(http.get("/v1beta/models"))
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"] == "API key not valid. Please pass a valid API key."
    info, localized = error["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "API_KEY_INVALID"
    assert localized["@type"] == "type.googleapis.com/google.rpc.LocalizedMessage"
    assert localized["message"] == error["message"]


def test_allow_list_rejects_other_keys(emu: Emulator, http: httpx.Client):
    emu.config.accepted_api_keys = {"the-only-key"}
    assert http.get("/v1beta/models").status_code == 400
    allowed = httpx.get(
        emu.base_url + "/v1beta/models", headers={"x-goog-api-key": "the-only-key"}
    )
    assert allowed.status_code == 200


def test_the_key_is_never_logged(emu: Emulator, caplog: pytest.LogCaptureFixture):
    secret = "AIzaSySECRET_never_in_logs_0123456789ab"
    with caplog.at_level(logging.DEBUG, logger="gemini_vision"):
        httpx.post(f"{emu.base_url}{GEN}?key={secret}", json=text_request())
        httpx.post(emu.base_url + GEN, json={"bad": 1}, headers={"x-goog-api-key": secret})
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("gemini_vision")]
    assert any("generateContent" in message for message in ours)
    assert not any(secret in message for message in ours)


# --- models and countTokens ----------------------------------------------------------------


def test_models_list_pages_through_every_model(emu: Emulator, http: httpx.Client):
    names, token = [], None
    while True:
        params = {"pageSize": 3, **({"pageToken": token} if token else {})}
        page = http.get("/v1beta/models", params=params).json()
        assert len(page["models"]) <= 3
        names += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert names == [f"models/{m}" for m in emu.config.models]


def test_models_get_returns_the_model_resource(http: httpx.Client):
    model = http.get(f"/v1beta/models/{MODEL}").json()
    assert model["name"] == f"models/{MODEL}"
    assert model["inputTokenLimit"] == 1048576
    assert "generateContent" in model["supportedGenerationMethods"]
    assert model["thinking"] is True


def test_models_get_of_unknown_model_is_404(http: httpx.Client):
    response = http.get("/v1/models/gemini-pro")
    assert response.status_code == 404
    assert error_of(response)["message"].startswith(
        "models/gemini-pro is not found for API version v1,"
    )


def test_count_tokens_counts_images_by_tiles_and_text_by_characters(http: httpx.Client):
    data = image_bytes((1000, 800))
    url = f"/v1beta/models/{MODEL}:countTokens"
    body = {"contents": image_request(data, text="x" * 40)["contents"]}
    result = http.post(url, json=body).json()
    assert result == {
        "totalTokens": 4 * 258 + 10,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 10},
            {"modality": "IMAGE", "tokenCount": 4 * 258},
        ],
    }
    wrapped = {"generateContentRequest": {"model": f"models/{MODEL}", **body}}
    assert http.post(url, json=wrapped).json() == result


def test_count_tokens_rejects_contents_and_request_together(http: httpx.Client):
    body = {"contents": text_request()["contents"], "generateContentRequest": text_request()}
    response = http.post(f"/v1beta/models/{MODEL}:countTokens", json=body)
    assert response.status_code == 400


def test_count_tokens_uses_media_resolution_on_gemini_3(http: httpx.Client):
    body = image_request(
        image_bytes(), generationConfig={"mediaResolution": "MEDIA_RESOLUTION_LOW"}
    )
    url = "/v1beta/models/gemini-3-flash-preview:countTokens"
    result = http.post(url, json={"generateContentRequest": body}).json()
    assert result["promptTokensDetails"][-1] == {"modality": "IMAGE", "tokenCount": 280}


# --- Files API -----------------------------------------------------------------------------


def start_upload(
    http: httpx.Client, size: int, *, body: Any = None, mime: str = "image/png", content=None
) -> httpx.Response:
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime,
        "Content-Type": "application/json",
    }
    if content is None:
        content = json.dumps(body).encode() if body is not None else b""
    return http.post("/upload/v1beta/files", headers=headers, content=content)


def upload(http: httpx.Client, data: bytes, mime: str = "image/png", **kwargs: Any) -> dict:
    start = start_upload(http, len(data), mime=mime, **kwargs)
    url = start.headers["x-goog-upload-url"]
    headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    final = httpx.post(url, headers=headers, content=data)
    assert final.status_code == 200, final.text
    return final.json()["file"]


def test_resumable_upload_in_chunks_validates_offsets(emu: Emulator, http: httpx.Client):
    data = image_bytes((120, 90))
    start = start_upload(http, len(data), body={"file": {"display_name": "scene"}})
    assert start.status_code == 200
    assert start.headers["x-goog-upload-status"] == "active"
    session = start.headers["x-goog-upload-url"]
    assert session.startswith(emu.base_url + "/upload/v1beta/files?upload_id=")
    half = len(data) // 2
    # Chunks carry no API key, as the SDK sends them.
    first = httpx.post(
        session,
        headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
        content=data[:half],
    )
    assert (first.status_code, first.headers["x-goog-upload-status"]) == (200, "active")
    wrong = httpx.post(
        session,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "3"},
        content=data[half:],
    )
    assert (wrong.status_code, wrong.headers["x-goog-upload-status"]) == (400, "active")
    final = httpx.post(
        session,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(half)},
        content=data[half:],
    )
    assert (final.status_code, final.headers["x-goog-upload-status"]) == (200, "final")
    file = final.json()["file"]
    file_id = file["name"].removeprefix("files/")
    assert file["displayName"] == "scene"
    assert file["mimeType"] == "image/png"
    assert file["sizeBytes"] == str(len(data))
    digest = hashlib.sha256(data).hexdigest().encode()
    assert base64.b64decode(file["sha256Hash"]) == digest
    assert file["uri"] == f"{emu.base_url}/v1beta/files/{file_id}"
    assert (file["state"], file["source"]) == ("ACTIVE", "UPLOADED")
    created = datetime.fromisoformat(file["createTime"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(file["expirationTime"].replace("Z", "+00:00"))
    assert expires - created == timedelta(hours=48)
    assert http.get(f"/v1beta/{file['name']}").json() == file


def test_upload_start_accepts_single_quoted_json_and_an_empty_body(http: httpx.Client):
    quoted = upload(http, b"abc", mime="text/plain", content=b"{'file': {'display_name': 'IMG'}}")
    assert quoted["displayName"] == "IMG"
    empty = upload(http, b"abcd", mime="text/plain")
    assert "displayName" not in empty
    assert empty["sizeBytes"] == "4"


def test_upload_start_rejects_unknown_fields(http: httpx.Client):
    response = start_upload(http, 3, body={"file": {"displayName": "a", "colour": "red"}})
    assert response.status_code == 400
    assert "Unknown name \"colour\" at 'file'" in error_of(response)["message"]


def test_upload_start_needs_a_key(emu: Emulator):
    response = httpx.post(
        emu.base_url + "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
    )
    assert response.status_code == 403


def test_finalize_with_fewer_bytes_than_declared_fails(http: httpx.Client):
    start = start_upload(http, 10)
    response = httpx.post(
        start.headers["x-goog-upload-url"],
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        content=b"12345",
    )
    assert response.status_code == 400
    assert response.headers["x-goog-upload-status"]


def test_file_get_list_delete(http: httpx.Client):
    names = [upload(http, f"file {i}".encode(), mime="text/plain")["name"] for i in range(12)]
    first = http.get("/v1beta/files").json()
    assert len(first["files"]) == 10
    second = http.get("/v1beta/files", params={"pageToken": first["nextPageToken"]}).json()
    assert "nextPageToken" not in second
    listed = [f["name"] for f in first["files"] + second["files"]]
    assert sorted(listed) == sorted(names)
    assert len(http.get("/v1beta/files", params={"pageSize": 500}).json()["files"]) == 12
    assert http.delete(f"/v1beta/{names[0]}").json() == {}
    file_id = names[0].removeprefix("files/")
    missing = http.get(f"/v1beta/{names[0]}")
    assert missing.status_code == 403
    assert error_of(missing) == {
        "code": 403,
        "message": f"You do not have permission to access the File {file_id} or it may not exist.",
        "status": "PERMISSION_DENIED",
    }
    assert http.delete(f"/v1beta/{names[0]}").status_code == 403


def test_empty_file_list_is_an_empty_object(http: httpx.Client):
    assert http.get("/v1/files").json() == {}


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param(lambda f, base: f["uri"], id="uri"),
        pytest.param(lambda f, base: f["name"], id="name"),
        pytest.param(
            lambda f, base: "https://generativelanguage.googleapis.com/v1beta/" + f["name"],
            id="google-host",
        ),
    ],
)
def test_file_data_references_uploaded_files(emu: Emulator, http: httpx.Client, reference):
    data = image_bytes((50, 50), color="blue")
    file = upload(http, data)
    part = {"fileData": {"mimeType": "image/png", "fileUri": reference(file, emu.base_url)}}
    response = http.post(GEN, json={"contents": [{"parts": [part, {"text": "Caption"}]}]})
    assert response.status_code == 200, response.text
    assert emu.stats.image_calls[hashlib.sha256(data).hexdigest()] == 1


def test_file_data_of_a_missing_file_is_403(http: httpx.Client):
    part = {"fileData": {"fileUri": "files/doesnotexist"}}
    response = http.post(GEN, json={"contents": [{"parts": [part]}]})
    assert response.status_code == 403
    assert "File doesnotexist" in error_of(response)["message"]


def test_processing_file_cannot_be_used_until_active(emu: Emulator, http: httpx.Client):
    emu.config.file_processing_delay = 0.4
    file = upload(http, image_bytes())
    assert file["state"] == "PROCESSING"
    part = {"fileData": {"fileUri": file["uri"]}}
    response = http.post(GEN, json={"contents": [{"parts": [part]}]})
    file_id = file["name"].removeprefix("files/")
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        f"The File {file_id} is not in an ACTIVE state and usage is not allowed"
    )
    time.sleep(0.45)
    assert http.get(f"/v1beta/{file['name']}").json()["state"] == "ACTIVE"
    assert http.post(GEN, json={"contents": [{"parts": [part]}]}).status_code == 200


def test_uploaded_files_cannot_be_downloaded(http: httpx.Client):
    file = upload(http, b"hello", mime="text/plain")
    response = http.get(f"/v1beta/{file['name']}:download", params={"alt": "media"})
    assert response.status_code == 400


# --- batches -------------------------------------------------------------------------------


def wait_done(http: httpx.Client, name: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation = http.get(f"/v1beta/{name}").json()
        if operation.get("done"):
            return operation
        time.sleep(0.02)
    raise AssertionError(f"{name} not done after {timeout} s")


def inline_batch(*texts: str) -> dict:
    requests = [
        {"request": text_request(t), "metadata": {"key": f"req_{i}"}} for i, t in enumerate(texts)
    ]
    return {"batch": {"display_name": "job", "input_config": {"requests": {"requests": requests}}}}


def test_inline_batch_runs_to_success_with_results_twice(http: httpx.Client):
    url = f"/v1beta/models/{MODEL}:batchGenerateContent"
    created = http.post(url, json=inline_batch("a", "b", "c")).json()
    name = created["name"]
    assert name.startswith("batches/")
    meta = created["metadata"]
    assert meta["@type"] == (
        "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
    )
    assert (meta["state"], meta["model"], meta["displayName"]) == (
        "BATCH_STATE_PENDING",
        f"models/{MODEL}",
        "job",
    )
    assert meta["batchStats"] == {"requestCount": "3", "pendingRequestCount": "3"}
    assert "done" not in created
    done = wait_done(http, name)
    meta = done["metadata"]
    assert meta["state"] == "BATCH_STATE_SUCCEEDED"
    assert meta["batchStats"] == {"requestCount": "3", "successfulRequestCount": "3"}
    assert "endTime" in meta
    lines = meta["output"]["inlinedResponses"]["inlinedResponses"]
    assert [line["metadata"] for line in lines] == [{"key": f"req_{i}"} for i in range(3)]
    assert all(line["response"]["candidates"][0]["finishReason"] == "STOP" for line in lines)
    assert done["response"]["@type"].endswith("v1main.GenerateContentBatchOutput")
    assert done["response"]["inlinedResponses"] == meta["output"]["inlinedResponses"]


def test_batch_passes_through_running(emu: Emulator, http: httpx.Client):
    emu.config.batch_pending_time = 0.0
    emu.config.batch_running_time = 0.6
    url = f"/v1beta/models/{MODEL}:batchGenerateContent"
    name = http.post(url, json=inline_batch("a", "b")).json()["name"]
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "BATCH_STATE_SUCCEEDED" not in seen:
        seen.add(http.get(f"/v1beta/{name}").json()["metadata"]["state"])
        time.sleep(0.02)
    assert {"BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"} <= seen


def test_batch_line_with_bad_request_is_an_error_line(http: httpx.Client):
    body = inline_batch("ok", "x")
    body["batch"]["input_config"]["requests"]["requests"][1]["request"]["contents"] = []
    name = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=body).json()["name"]
    meta = wait_done(http, name)["metadata"]
    assert meta["batchStats"] == {
        "requestCount": "2",
        "successfulRequestCount": "1",
        "failedRequestCount": "1",
    }
    bad = meta["output"]["inlinedResponses"]["inlinedResponses"][1]
    assert bad["error"]["code"] == 3  # INVALID_ARGUMENT, as a gRPC code inside the Operation
    assert "contents is not specified" in bad["error"]["message"]


def test_file_batch_writes_a_downloadable_jsonl(emu: Emulator, http: httpx.Client):
    lines = [
        {"key": "first", "request": text_request("a")},
        {"key": "second", "request": {"contents": [{"parts": [{"text": "b"}]}], "bogus": 1}},
        {"key": "third", "request": text_request("c")},
    ]
    jsonl = "".join(json.dumps(line) + "\n" for line in lines).encode()
    source = upload(http, jsonl, mime="jsonl")
    body = {"batch": {"displayName": "f", "inputConfig": {"fileName": source["name"]}}}
    created = http.post(f"/v1/models/{MODEL}:batchGenerateContent", json=body).json()
    assert created["metadata"]["inputConfig"] == {"fileName": source["name"]}
    done = wait_done(http, created["name"])
    batch_id = created["name"].removeprefix("batches/")
    assert done["metadata"]["output"] == {"responsesFile": f"files/batch-{batch_id}"}
    assert done["response"]["responsesFile"] == f"files/batch-{batch_id}"
    generated = http.get(f"/v1beta/files/batch-{batch_id}").json()
    assert generated["source"] == "GENERATED"
    sdk_path = f"/v1beta/files/batch-{batch_id}:download"
    docs_path = f"/download/v1beta/files/batch-{batch_id}:download"
    first = http.get(sdk_path, params={"alt": "media"}).content
    assert http.get(docs_path, params={"alt": "media"}).content == first
    results = [json.loads(line) for line in first.decode().splitlines()]
    assert [r["key"] for r in results] == ["first", "second", "third"]
    assert "response" in results[0] and "response" in results[2]
    assert results[1]["error"]["code"] == 3
    assert "bogus" in results[1]["error"]["message"]


def test_file_batch_with_missing_file_is_403(http: httpx.Client):
    body = {"batch": {"inputConfig": {"fileName": "files/nothere"}}}
    response = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=body)
    assert response.status_code == 403


def test_cancelled_batch_keeps_no_results(emu: Emulator, http: httpx.Client):
    emu.config.batch_pending_time = 5.0
    name = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=inline_batch("a"))
    name = name.json()["name"]
    assert http.post(f"/v1beta/{name}:cancel").json() == {}
    operation = http.get(f"/v1beta/{name}").json()
    assert operation["done"] is True
    assert operation["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert "output" not in operation["metadata"] and "response" not in operation


def test_batch_expires_after_its_deadline(emu: Emulator, http: httpx.Client):
    emu.config.batch_pending_time = 5.0
    emu.config.batch_expiry = 0.2
    name = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=inline_batch("a"))
    operation = wait_done(http, name.json()["name"], timeout=2)
    assert operation["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert "output" not in operation["metadata"]


def test_batches_list_and_delete(http: httpx.Client):
    url = f"/v1beta/models/{MODEL}:batchGenerateContent"
    names = [http.post(url, json=inline_batch(str(i))).json()["name"] for i in range(3)]
    page = http.get("/v1beta/batches", params={"pageSize": 2}).json()
    assert len(page["operations"]) == 2 and page["nextPageToken"]
    rest = http.get("/v1beta/batches", params={"pageToken": page["nextPageToken"]}).json()
    listed = [op["name"] for op in page["operations"] + rest["operations"]]
    assert sorted(listed) == sorted(names)
    assert http.delete(f"/v1beta/{names[0]}").json() == {}
    assert http.get(f"/v1beta/{names[0]}").status_code == 404


# --- server behaviour ----------------------------------------------------------------------


def test_stats_count_requests_per_endpoint_status_and_image(emu: Emulator, http: httpx.Client):
    data = image_bytes((10, 10))
    http.post(GEN, json=image_request(data))
    http.post(GEN, json=image_request(data))
    http.post("/v1beta/models/nope:generateContent", json=text_request())
    http.get("/v1beta/models")
    assert emu.stats.count("generateContent", 200) == 2
    assert emu.stats.count("generateContent", 404) == 1
    assert emu.stats.count("models.list") == 1
    assert emu.stats.image_calls[hashlib.sha256(data).hexdigest()] == 2
    snapshot = emu.stats.snapshot()
    assert snapshot["requests"]["generateContent"] == 3
    assert snapshot["tokens"]["total"] > snapshot["tokens"]["prompt"] > 0


def test_concurrent_slow_requests_are_served_in_parallel(emu: Emulator):
    emu.config.latency = 0.3
    results: list[int] = []
    limits = httpx.Limits(max_connections=100)
    with httpx.Client(headers={"x-goog-api-key": KEY}, limits=limits, timeout=10) as client:

        def call() -> None:
            results.append(client.post(emu.base_url + GEN, json=text_request()).status_code)

        threads = [threading.Thread(target=call) for _ in range(100)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert results == [200] * 100
    assert elapsed < 1.5  # 100 x 0.3 s one after another would take 30 s


def test_repeated_requests_reuse_the_responders_reply():
    calls: list[str] = []

    def counting(request: Any, images: list, *, model: str, rng: random.Random) -> Reply:
        calls.append(model)
        return Reply(text=f"answer {rng.random()}")

    with (
        Emulator(respond=counting) as server,
        httpx.Client(base_url=server.base_url, headers={"x-goog-api-key": KEY}) as client,
    ):
        first = client.post(GEN, json=text_request("same")).json()
        again = client.post(GEN, json=text_request("same")).json()
        client.post(GEN, json=text_request("other"))
        assert first["candidates"] == again["candidates"]
        assert len(calls) == 2
        server.config.reply_cache_size = 0
        assert (
            client.post(GEN, json=text_request("same")).json()["candidates"]
            == (first["candidates"])
        )
        assert len(calls) == 3


def test_keep_alive_connection_is_reused(emu: Emulator, http: httpx.Client):
    first = http.get("/v1beta/models")
    second = http.get("/v1beta/models")
    assert first.status_code == second.status_code == 200
    assert first.http_version == "HTTP/1.1"
    assert "close" not in first.headers.get("connection", "")


def test_stop_closes_kept_alive_connections():
    emu = Emulator().start()
    client = httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": KEY})
    assert client.get("/v1beta/models").status_code == 200
    emu.stop()
    with pytest.raises(httpx.TransportError):
        client.get("/v1beta/models")
    client.close()


def test_command_line_prints_the_base_url_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_vision.emulator", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        response = httpx.get(base_url + "/v1beta/models", headers={"x-goog-api-key": KEY})
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
