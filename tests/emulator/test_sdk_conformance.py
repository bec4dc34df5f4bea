"""The official google-genai SDK, pointed at the emulator, runs the Python examples of Google's
"Image understanding" guide for the Gemini API.

The SDK is the judge of fidelity: if it can upload, generate, count, list, page, batch and
raise its own typed errors against the emulator, the wire forms match what it expects from
the real service. Images are synthetic scenes with exact ground truth (gemini_vision.demo.scenes).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from gemini_vision.catalog import estimate_image_tokens, estimate_text_tokens
from gemini_vision.demo import scenes
from gemini_vision.emulator import Emulator, EmulatorConfig

MODEL = "gemini-2.5-flash"
CAPTION = "Caption this image."
DIFFERENCE = "What is different between these two images?"
DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be"
    " [ymin, xmin, ymax, xmax] normalized to 0-1000."
)
SEGMENT = """
  Give the segmentation masks for the wooden and glass items.
  Output a JSON list of segmentation masks where each entry contains the 2D
  bounding box in the key "box_2d", the segmentation mask in key "mask", and
  the text label in the key "label". Use descriptive labels.
  """


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(batch_pending_time=0.05, batch_running_time=0.05)
    with Emulator(config) as server:
        yield server


@pytest.fixture
def client(emu: Emulator) -> genai.Client:
    return genai.Client(api_key="fake-key", http_options=types.HttpOptions(base_url=emu.base_url))


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.generate_scene(11, (640, 480), n_objects=4)


@pytest.fixture
def jpeg_path(tmp_path: Path, scene: scenes.Scene) -> Path:
    return scenes.save_scene(scene, tmp_path / "small-sample.jpg")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_mentions_every_object(text: str | None, scene: scenes.Scene) -> None:
    """A caption names every shape class and every colour in the scene."""
    assert text
    lowered = text.lower()
    missing = [w for w in {*scene.class_counts, *scene.color_counts} if w not in lowered]
    assert not missing, f"{missing} not in {text!r}"


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """IoU of two (x0, y0, x1, y1) pixel boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def to_pixels(box_2d: list[int], width: int, height: int) -> tuple[int, int, int, int]:
    """The guide's conversion: [ymin, xmin, ymax, xmax] on 0-1000 -> (x0, y0, x1, y1) px."""
    y0, x0, y1, x1 = box_2d
    return (
        int(x0 / 1000 * width),
        int(y0 / 1000 * height),
        int(x1 / 1000 * width),
        int(y1 / 1000 * height),
    )


def assert_boxes_match(bounding_boxes: list[dict], scene: scenes.Scene) -> None:
    """One box per object, each at IoU >= 0.5 with its ground truth, labelled by name."""
    width, height = scene.size
    found = [to_pixels(b["box_2d"], width, height) for b in bounding_boxes]
    truth = scenes.ground_truth(scene).detections
    assert len(found) == len(truth)
    for obj in truth:
        best = max(found, key=lambda box: box_iou(box, obj.box_xyxy))
        assert box_iou(best, obj.box_xyxy) >= 0.5, (obj.color, obj.label)
    labels = sorted(b["label"] for b in bounding_boxes)
    assert labels == sorted(f"{o.color} {o.label}" for o in truth)


def parse_json(json_output: str) -> str:
    """The guide's own fence stripper, as its segmentation example defines it."""
    lines = json_output.splitlines()
    for i, line in enumerate(lines):
        if line == "```json":
            json_output = "\n".join(lines[i + 1 :])
            json_output = json_output.split("```")[0]
            break
    return json_output


def test_inline_bytes_caption(
    emu: Emulator, client: genai.Client, jpeg_path: Path, scene: scenes.Scene
):
    image_bytes = jpeg_path.read_bytes()
    response = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=image_bytes, mime_type="image/jpeg"), CAPTION],
    )
    assert_mentions_every_object(response.text, scene)
    assert response.model_version == MODEL
    assert response.response_id
    usage = response.usage_metadata
    assert usage is not None
    expected = estimate_image_tokens(640, 480, model=MODEL) + estimate_text_tokens(CAPTION)
    assert usage.prompt_token_count == expected
    assert usage.total_token_count == (
        usage.prompt_token_count
        + (usage.candidates_token_count or 0)
        + (usage.thoughts_token_count or 0)
    )
    assert emu.stats.image_calls[sha256(image_bytes)] >= 1


def test_files_api_upload_then_caption(
    emu: Emulator, client: genai.Client, jpeg_path: Path, scene: scenes.Scene
):
    my_file = client.files.upload(file=str(jpeg_path))
    data = jpeg_path.read_bytes()
    assert my_file.name and my_file.name.startswith("files/")
    assert my_file.state == types.FileState.ACTIVE
    assert my_file.mime_type == "image/jpeg"
    assert my_file.size_bytes == len(data)
    assert my_file.sha256_hash is not None
    assert base64.b64decode(my_file.sha256_hash).decode() == sha256(data)
    assert my_file.uri == f"{emu.base_url}/v1beta/{my_file.name}"
    assert my_file.expiration_time and my_file.create_time
    assert (my_file.expiration_time - my_file.create_time).total_seconds() == 48 * 3600
    before = emu.stats.image_calls[sha256(data)]
    response = client.models.generate_content(model=MODEL, contents=[my_file, CAPTION])
    assert_mentions_every_object(response.text, scene)
    assert emu.stats.image_calls[sha256(data)] == before + 1


def test_two_images_inline_and_uploaded(
    emu: Emulator, client: genai.Client, tmp_path: Path, scene: scenes.Scene
):
    changed, what = scenes.variant(scene, seed=3)
    image1_path = scenes.save_scene(scene, tmp_path / "image1.jpg")
    image2_path = scenes.save_scene(changed, tmp_path / "image2.png")
    uploaded_file = client.files.upload(file=str(image1_path))
    img2_bytes = image2_path.read_bytes()
    response = client.models.generate_content(
        model=MODEL,
        contents=[
            DIFFERENCE,
            uploaded_file,
            types.Part.from_bytes(data=img2_bytes, mime_type="image/png"),
        ],
    )
    # variant() removed or recoloured one object; the answer names that object.
    changed_object = " ".join(what.split()[1:3])  # "the purple circle was removed"
    assert response.text and changed_object in response.text.lower()
    details = {d.modality: d.token_count for d in response.usage_metadata.prompt_tokens_details}
    assert details[types.MediaModality.IMAGE] == 2 * estimate_image_tokens(640, 480, model=MODEL)
    assert emu.stats.image_calls[sha256(img2_bytes)] >= 1
    assert emu.stats.image_calls[sha256(image1_path.read_bytes())] >= 1


def test_detection_with_json_mime_type(client: genai.Client, tmp_path: Path, scene):
    path = scenes.save_scene(scene, tmp_path / "image.png")
    image = Image.open(path)  # the guide passes a PIL image; the SDK encodes it
    config = types.GenerateContentConfig(response_mime_type="application/json")
    response = client.models.generate_content(model=MODEL, contents=[image, DETECT], config=config)
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert_boxes_match(json.loads(response.text), scene)


def segment(client: genai.Client, image: Image.Image, prompt: str) -> list[dict]:
    """The guide's segmentation call: thinking off, prompt first, a PIL image."""
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    response = client.models.generate_content(model=MODEL, contents=[prompt, image], config=config)
    assert response.usage_metadata.thoughts_token_count is None
    return json.loads(parse_json(response.text))


def test_segmentation_prompt_of_the_guide_finds_no_wooden_or_glass_items(
    client: genai.Client, scene: scenes.Scene
):
    assert segment(client, scene.image, SEGMENT) == []  # flat coloured shapes only


def test_segmentation_masks_match_the_ground_truth(client: genai.Client, scene: scenes.Scene):
    im = scene.image.copy()
    im.thumbnail([1024, 1024], Image.Resampling.LANCZOS)
    items = segment(client, im, SEGMENT.replace("the wooden and glass items", "the shapes"))
    truth = {f"{o.color} {o.label}": o for o in scene.objects}
    assert sorted(item["label"] for item in items) == sorted(truth)
    for item in items:
        # The guide's decoding: box to pixels, PNG resized to the box, threshold at 128.
        box = item["box_2d"]
        y0, x0 = int(box[0] / 1000 * im.size[1]), int(box[1] / 1000 * im.size[0])
        y1, x1 = int(box[2] / 1000 * im.size[1]), int(box[3] / 1000 * im.size[0])
        png_str = item["mask"]
        assert png_str.startswith("data:image/png;base64,")
        mask = Image.open(
            io.BytesIO(base64.b64decode(png_str.removeprefix("data:image/png;base64,")))
        )
        mask = mask.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
        predicted = np.zeros((im.size[1], im.size[0]), bool)
        predicted[y0:y1, x0:x1] = np.array(mask) > 128
        expected = truth[item["label"]].mask
        iou = (predicted & expected).sum() / (predicted | expected).sum()
        assert iou >= 0.5, (item["label"], iou)


def test_thought_summaries_are_parts_the_sdk_keeps_out_of_text(client: genai.Client):
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True)
    )
    response = client.models.generate_content(model=MODEL, contents="Hello", config=config)
    parts = response.candidates[0].content.parts
    assert parts[0].thought is True
    assert response.text == "".join(p.text for p in parts[1:])
    assert response.usage_metadata.thoughts_token_count > 0


def test_streaming_adds_up_to_the_same_answer(client: genai.Client, jpeg_path: Path):
    part = types.Part.from_bytes(data=jpeg_path.read_bytes(), mime_type="image/jpeg")
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents=[part, CAPTION], config=config)
    )
    whole = client.models.generate_content(model=MODEL, contents=[part, CAPTION], config=config)
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == whole.usage_metadata.total_token_count


def test_async_client_generates(client: genai.Client, jpeg_path: Path):
    import asyncio

    part = types.Part.from_bytes(data=jpeg_path.read_bytes(), mime_type="image/jpeg")

    async def run() -> str | None:
        response = await client.aio.models.generate_content(model=MODEL, contents=[part, CAPTION])
        return response.text

    assert asyncio.run(run())


def test_count_tokens(client: genai.Client, jpeg_path: Path):
    part = types.Part.from_bytes(data=jpeg_path.read_bytes(), mime_type="image/jpeg")
    result = client.models.count_tokens(model=MODEL, contents=[part, CAPTION])
    expected = estimate_image_tokens(640, 480, model=MODEL) + estimate_text_tokens(CAPTION)
    assert result.total_tokens == expected


def test_models_list_and_get(emu: Emulator, client: genai.Client):
    names = [m.name for m in client.models.list(config={"page_size": 4})]
    assert names == [f"models/{m}" for m in emu.config.models]
    model = client.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}"
    assert model.input_token_limit == 1048576
    assert model.display_name == "Gemini 2.5 Flash"


def test_files_list_and_delete(client: genai.Client, tmp_path: Path):
    uploaded = []
    for i in range(3):
        path = tmp_path / f"note{i}.txt"
        path.write_text(f"note {i}")
        uploaded.append(client.files.upload(file=str(path)).name)
    listed = [f.name for f in client.files.list(config={"page_size": 2})]
    assert set(uploaded) <= set(listed)
    client.files.delete(name=uploaded[0])
    assert uploaded[0] not in [f.name for f in client.files.list()]
    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded[0])
    assert caught.value.code == 403


def test_file_still_processing_is_refused_then_accepted(
    emu: Emulator, client: genai.Client, jpeg_path: Path
):
    emu.config.file_processing_delay = 0.3
    try:
        my_file = client.files.upload(file=str(jpeg_path))
    finally:
        emu.config.file_processing_delay = 0.0
    assert my_file.state == types.FileState.PROCESSING
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=[my_file, CAPTION])
    assert caught.value.code == 400
    assert "is not in an ACTIVE state" in caught.value.message
    time.sleep(0.35)
    assert client.files.get(name=my_file.name).state == types.FileState.ACTIVE
    assert client.models.generate_content(model=MODEL, contents=[my_file, CAPTION]).text


def test_unknown_model_raises_the_sdk_404(client: genai.Client):
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-pro", contents="Hello")
    error = caught.value
    assert (error.code, error.status) == (404, "NOT_FOUND")
    assert error.message == (
        "models/gemini-pro is not found for API version v1, or is not supported for"
        " generateContent. Call ListModels to see the list of available models and their"
        " supported methods."
    )


def test_missing_file_raises_the_sdk_403(client: genai.Client):
    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name="files/doesnotexist")
    error = caught.value
    assert (error.code, error.status) == (403, "PERMISSION_DENIED")
    assert error.message == (
        "You do not have permission to access the File doesnotexist or it may not exist."
    )


def test_bad_key_raises_api_key_invalid(emu: Emulator, client: genai.Client):
    emu.config.rejected_api_keys = {"fake-key"}
    try:
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(model=MODEL, contents="Hello")
    finally:
        emu.config.rejected_api_keys = set()
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_sdk_retries_on_injected_503_when_asked_to(emu: Emulator):
    retrying = genai.Client(
        api_key="fake-key",
        http_options=types.HttpOptions(
            base_url=emu.base_url,
            retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02),
        ),
    )
    emu.config.fault_rate_503 = 1.0
    before = emu.stats.count("generateContent", 503)
    try:
        with pytest.raises(errors.ServerError) as caught:
            retrying.models.generate_content(model=MODEL, contents="Hello")
    finally:
        emu.config.fault_rate_503 = 0.0
    assert caught.value.message == "The model is overloaded. Please try again later."
    assert emu.stats.count("generateContent", 503) - before == 3


def wait_for_batch(client: genai.Client, name: str) -> types.BatchJob:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        if job.done:
            return job
        time.sleep(0.05)
    raise AssertionError(f"batch {name} did not finish")


def test_inline_batch_create_get_results(
    client: genai.Client, jpeg_path: Path, scene: scenes.Scene
):
    image = types.Part.from_bytes(data=jpeg_path.read_bytes(), mime_type="image/jpeg")
    job = client.batches.create(
        model=MODEL,
        src=[
            {"contents": [{"parts": [image, {"text": CAPTION}], "role": "user"}]},
            {
                "contents": [{"parts": [image, {"text": DETECT}], "role": "user"}],
                "config": {"response_mime_type": "application/json"},
            },
        ],
        config={"display_name": "sdk-batch"},
    )
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name == "sdk-batch"
    done = wait_for_batch(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    caption, detection = (r.response for r in done.dest.inlined_responses)
    assert caption is not None and detection is not None
    assert_mentions_every_object(caption.text, scene)
    assert_boxes_match(json.loads(detection.text), scene)
    names = [j.name for j in client.batches.list()]
    assert job.name in names


def test_file_batch_results_download_through_the_sdk(client: genai.Client, tmp_path: Path):
    lines = [
        {"key": f"request_{i}", "request": {"contents": [{"parts": [{"text": f"Hi {i}"}]}]}}
        for i in range(3)
    ]
    source = tmp_path / "batch.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    uploaded = client.files.upload(file=str(source), config={"mime_type": "jsonl"})
    job = client.batches.create(model=MODEL, src=uploaded.name)
    done = wait_for_batch(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest.file_name == f"files/batch-{job.name.removeprefix('batches/')}"
    content = client.files.download(file=done.dest.file_name)
    results = [json.loads(line) for line in content.decode().splitlines()]
    assert [r["key"] for r in results] == ["request_0", "request_1", "request_2"]
    assert all(r["response"]["candidates"][0]["content"]["parts"][0]["text"] for r in results)


def test_batch_cancel_and_delete(emu: Emulator, client: genai.Client):
    emu.config.batch_pending_time = 5.0
    try:
        job = client.batches.create(
            model=MODEL, src=[{"contents": [{"parts": [{"text": "x"}], "role": "user"}]}]
        )
    finally:
        emu.config.batch_pending_time = 0.05
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    client.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as caught:
        client.batches.get(name=job.name)
    assert caught.value.code == 404


def test_png_written_by_pil_roundtrips_through_the_sdk(emu: Emulator, client: genai.Client):
    buffer = io.BytesIO()
    Image.new("RGB", (500, 400), "green").save(buffer, "PNG")
    data = buffer.getvalue()
    client.models.generate_content(
        model=MODEL, contents=[types.Part.from_bytes(data=data, mime_type="image/png"), "Hi"]
    )
    # The SDK sends URL-safe base64: the server must decode it to the very same bytes.
    assert emu.stats.image_calls[sha256(data)] == 1
