"""The official google-genai SDK, with ``vertexai=True``, runs the Python examples of Google's
"Image understanding" guide against the emulator's Vertex AI endpoints.

Credentials come from a real service-account key file generated for the test: google-auth signs
a JWT with its private key, the emulator's token endpoint checks the signature and issues
short-lived access tokens, and every Vertex AI call checks them. The SDK is unchanged but for
the base URL, as in tests/emulator/test_sdk_conformance.py for the Developer API.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from google import genai
from google.auth import exceptions as auth_exceptions
from google.genai import errors, types
from google.oauth2 import service_account
from PIL import Image

from gemini_vision.api import GeminiClient, wire
from gemini_vision.api.credentials import CLOUD_PLATFORM_SCOPE
from gemini_vision.catalog import estimate_image_tokens, estimate_text_tokens
from gemini_vision.demo import scenes
from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.emulator.cloud import DEFAULT_PROJECT, service_account_file
from gemini_vision.errors import AuthenticationError, NotFoundError, PermissionDeniedError

MODEL = "gemini-2.5-flash"
LOCATION = "us-central1"
CAPTION = "Caption this image."
DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be"
    " [ymin, xmin, ymax, xmax] normalized to 0-1000."
)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    bucket = tmp_path_factory.mktemp("bucket")
    config = EmulatorConfig(gcs_buckets={"media-bucket": str(bucket)})
    with Emulator(config) as server:
        yield server


@pytest.fixture(scope="module")
def key_file(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return service_account_file(emu, tmp_path_factory.mktemp("keys") / "sa.json")


def credentials_from(path: Path) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_file(
        str(path), scopes=[CLOUD_PLATFORM_SCOPE]
    )


@pytest.fixture
def client(emu: Emulator, key_file: Path) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=DEFAULT_PROJECT,
        location=LOCATION,
        credentials=credentials_from(key_file),
        http_options=types.HttpOptions(base_url=emu.base_url),
    )


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.generate_scene(21, (640, 480), n_objects=4)


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def test_inline_caption_with_a_service_account(
    emu: Emulator, client: genai.Client, scene: scenes.Scene
) -> None:
    data = io.BytesIO()
    scene.image.save(data, format="JPEG", quality=95)
    before = emu.api.tokens.issued
    response = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=data.getvalue(), mime_type="image/jpeg"), CAPTION],
    )
    lowered = (response.text or "").lower()
    assert all(word in lowered for word in {*scene.class_counts, *scene.color_counts})
    assert emu.api.tokens.issued == before + 1  # a real JWT exchange happened
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == estimate_image_tokens(
        640, 480, model=MODEL
    ) + estimate_text_tokens(CAPTION)
    assert response.create_time is not None  # a field only Vertex AI sends


def test_detection_of_a_pil_image_in_json(client: genai.Client, scene: scenes.Scene) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json")
    response = client.models.generate_content(
        model=MODEL, contents=[scene.image, DETECT], config=config
    )
    boxes = json.loads(response.text or "[]")
    truth = scenes.ground_truth(scene).detections
    assert len(boxes) == len(truth)
    width, height = scene.size
    found = [
        (b[1] * width // 1000, b[0] * height // 1000, b[3] * width // 1000, b[2] * height // 1000)
        for b in (item["box_2d"] for item in boxes)
    ]
    for obj in truth:
        assert max(box_iou(box, obj.box_xyxy) for box in found) >= 0.5


def test_segmentation_masks_through_vertex(client: genai.Client, scene: scenes.Scene) -> None:
    prompt = (
        "Give the segmentation masks for the shapes. Output a JSON list of segmentation masks "
        'where each entry contains the 2D bounding box in the key "box_2d", the segmentation '
        'mask in key "mask", and the text label in the key "label". Use descriptive labels.'
    )
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    response = client.models.generate_content(
        model=MODEL, contents=[prompt, scene.image], config=config
    )
    text = (response.text or "").strip().removeprefix("```json").removesuffix("```")
    items = json.loads(text)
    assert sorted(i["label"] for i in items) == sorted(
        f"{o.color} {o.label}" for o in scene.objects
    )
    assert all(i["mask"].startswith("data:image/png;base64,") for i in items)


def test_cloud_storage_media_by_uri(
    emu: Emulator, client: genai.Client, scene: scenes.Scene
) -> None:
    folder = Path(emu.config.gcs_buckets["media-bucket"]) / "dir"
    folder.mkdir(exist_ok=True)
    scenes.save_scene(scene, folder / "scene.jpg")
    response = client.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_uri(
                file_uri="gs://media-bucket/dir/scene.jpg", mime_type="image/jpeg"
            ),
            CAPTION,
        ],
    )
    assert all(word in (response.text or "").lower() for word in scene.class_counts)
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(
            model=MODEL,
            contents=[
                types.Part.from_uri(file_uri="gs://media-bucket/nope.jpg", mime_type="image/jpeg"),
                CAPTION,
            ],
        )
    assert missing.value.code == 404


def test_streaming_async_and_count_tokens(client: genai.Client, scene: scenes.Scene) -> None:
    import asyncio

    data = io.BytesIO()
    scene.image.save(data, format="PNG")
    part = types.Part.from_bytes(data=data.getvalue(), mime_type="image/png")
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents=[part, CAPTION], config=config)
    )
    whole = client.models.generate_content(model=MODEL, contents=[part, CAPTION], config=config)
    assert "".join(c.text or "" for c in chunks) == whole.text

    async def ask() -> str | None:
        answer = await client.aio.models.generate_content(model=MODEL, contents=[part, CAPTION])
        return answer.text

    assert asyncio.run(ask())
    counted = client.models.count_tokens(model=MODEL, contents=[part, CAPTION])
    expected = estimate_image_tokens(640, 480, model=MODEL) + estimate_text_tokens(CAPTION)
    assert counted.total_tokens == expected


def test_vertex_errors_as_the_sdk_sees_them(
    emu: Emulator, key_file: Path, client: genai.Client
) -> None:
    def on(project: str, location: str) -> genai.Client:
        return genai.Client(
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials_from(key_file),
            http_options=types.HttpOptions(base_url=emu.base_url),
        )

    emu.config.vertex_projects = {DEFAULT_PROJECT}
    emu.config.vertex_models_by_location = {LOCATION: (MODEL,), "europe-west9": ()}
    try:
        # each client kept in a name: the SDK closes a client's connections when it is dropped
        foreign = on("someone-elses-project", LOCATION)
        with pytest.raises(errors.ClientError) as denied:
            foreign.models.generate_content(model=MODEL, contents="hi")
        assert (denied.value.code, denied.value.status) == (403, "PERMISSION_DENIED")
        assert "aiplatform.endpoints.predict" in (denied.value.message or "")
        elsewhere = on(DEFAULT_PROJECT, "europe-west9")
        with pytest.raises(errors.ClientError) as absent:
            elsewhere.models.generate_content(model=MODEL, contents="hi")
        assert (absent.value.code, absent.value.status) == (404, "NOT_FOUND")
        assert "Publisher Model" in (absent.value.message or "")
    finally:
        emu.config.vertex_projects = None
        emu.config.vertex_models_by_location = None
    emu.config.rpm = 1
    emu.config.quota_window = 30.0
    try:
        client.models.generate_content(model=MODEL, contents="hi")
        with pytest.raises(errors.ClientError) as exhausted:
            client.models.generate_content(model=MODEL, contents="hi")
        assert (exhausted.value.code, exhausted.value.status) == (429, "RESOURCE_EXHAUSTED")
        assert "details" not in exhausted.value.details["error"]  # no RetryInfo on Vertex AI
    finally:
        emu.config.rpm = None
        emu.api.quotas = type(emu.api.quotas)()


def test_a_revoked_or_unknown_key_gets_no_token(emu: Emulator, tmp_path: Path) -> None:
    revoked = service_account_file(emu, tmp_path / "revoked.json", name="revoked")
    emu.config.revoked_credentials.add(json.loads(revoked.read_text())["client_email"])
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        credentials_from(revoked).refresh(_auth_request())
    forged = json.loads(
        service_account_file(emu, tmp_path / "other.json", name="other").read_text()
    )
    victim = json.loads(service_account_file(emu, tmp_path / "victim.json", name="v").read_text())
    forged["client_email"] = victim["client_email"]  # signed with another account's key
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(auth_exceptions.RefreshError, match="Invalid JWT Signature"):
        credentials_from(tmp_path / "forged.json").refresh(_auth_request())


def _auth_request() -> object:
    from google.auth.transport.requests import Request

    return Request()


# -- the plugin's own client over the same endpoints ---------------------------------------------


def test_our_client_keeps_tokens_fresh_and_never_sends_an_expired_one(
    emu: Emulator, key_file: Path
) -> None:
    emu.config.token_lifetime = 2.0
    emu.config.latency = 0.1
    expired_before = emu.api.tokens.expired_uses
    request = wire.GenerateContentRequest(
        contents=[wire.Content(role="user", parts=[wire.Part(text="hello")])]
    )
    try:
        with GeminiClient(
            vertexai=True,
            project=DEFAULT_PROJECT,
            location=LOCATION,
            credentials=credentials_from(key_file),
            base_url=emu.base_url,
        ) as ours:
            started = time.monotonic()
            while time.monotonic() - started < 5.0:  # two and a half token lifetimes
                ours.generate_content(MODEL, request)
            assert ours.config.tokens is not None and ours.config.tokens.refreshes >= 3
            assert ours.stats.by_status == {200: ours.stats.requests}
    finally:
        emu.config.token_lifetime = 3600.0
        emu.config.latency = 0.0
    assert emu.api.tokens.expired_uses == expired_before


def test_our_access_check_says_what_to_change(emu: Emulator, key_file: Path) -> None:
    def check(project: str, location: str) -> str:
        with GeminiClient(
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials_from(key_file),
            base_url=emu.base_url,
        ) as ours:
            try:
                ours.check_access(MODEL)
            except (PermissionDeniedError, NotFoundError, AuthenticationError) as exc:
                return str(exc)
            return "ok"

    emu.config.vertex_projects = {DEFAULT_PROJECT}
    emu.config.vertex_models_by_location = {LOCATION: (MODEL,), "europe-west9": ()}
    before = emu.stats.count("generateContent")
    try:
        assert check(DEFAULT_PROJECT, LOCATION) == "ok"
        denied = check("someone-elses-project", LOCATION)
        assert "GOOGLE_CLOUD_PROJECT" in denied and "roles/aiplatform.user" in denied
        absent = check(DEFAULT_PROJECT, "europe-west9")
        assert "not available in location 'europe-west9'" in absent
        assert "GOOGLE_CLOUD_LOCATION" in absent
    finally:
        emu.config.vertex_projects = None
        emu.config.vertex_models_by_location = None
    assert emu.stats.count("generateContent") == before  # only free countTokens calls


def test_cloud_storage_json_api_reads_metadata_and_a_range(
    emu: Emulator, key_file: Path, scene: scenes.Scene
) -> None:
    path = scenes.save_scene(scene, Path(emu.config.gcs_buckets["media-bucket"]) / "a b.png")
    credentials = credentials_from(key_file)
    credentials.refresh(_auth_request())
    headers = {"Authorization": f"Bearer {credentials.token}"}
    url = f"{emu.base_url}/storage/v1/b/media-bucket/o/a%20b.png"
    meta = httpx.get(url, headers=headers).json()
    assert (meta["name"], int(meta["size"])) == ("a b.png", path.stat().st_size)
    part = httpx.get(url, params={"alt": "media"}, headers={**headers, "Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == path.read_bytes()[:100]
    assert httpx.get(url).status_code == 401
    assert np.asarray(Image.open(path)).shape == (480, 640, 3)


def test_command_line_emulator_for_vertex_with_a_key_file_and_a_bucket(
    tmp_path: Path, scene: scenes.Scene
) -> None:
    """The README's offline Vertex AI set-up: the emulator writes a key file it trusts."""
    import signal
    import subprocess
    import sys

    scenes.save_scene(scene, tmp_path / "scene.png")
    key = tmp_path / "sa.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gemini_vision.emulator",
            "--port",
            "0",
            "--service-account-file",
            str(key),
            "--gcs",
            f"local-bucket={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert str(key) in process.stdout.readline()
        client = genai.Client(
            vertexai=True,
            project=DEFAULT_PROJECT,
            location=LOCATION,
            credentials=credentials_from(key),
            http_options=types.HttpOptions(base_url=base_url),
        )
        part = types.Part.from_uri(file_uri="gs://local-bucket/scene.png", mime_type="image/png")
        response = client.models.generate_content(model=MODEL, contents=[part, CAPTION])
        assert all(word in (response.text or "").lower() for word in scene.class_counts)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
