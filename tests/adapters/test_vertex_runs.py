"""Every way in - the operators, ``run_task``, ``GeminiModel`` - on Vertex AI, against the
emulator, with a service-account key file whose access tokens live about a second.

The configuration is what a Google Cloud user sets (``GOOGLE_GENAI_USE_VERTEXAI``,
``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION``, ``GOOGLE_APPLICATION_CREDENTIALS``), the
host override the SDK's ``GOOGLE_VERTEX_BASE_URL``; google-auth signs real JWTs the emulator
checks. Nothing here sets a Gemini API key.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

import fiftyone.core.odm as foo_odm  # noqa: E402
import google.oauth2.credentials  # noqa: E402
from fiftyone import ViewField as F  # noqa: E402
from fiftyone.operators.delegated import DelegatedOperationService  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

from gemini_vision import GeminiModel, RunSettings, run_task  # noqa: E402
from gemini_vision.adapters import clear_cached_answers, runs  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402
from gemini_vision.api.credentials import CLOUD_PLATFORM_SCOPE  # noqa: E402
from gemini_vision.demo import scenes  # noqa: E402
from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402
from gemini_vision.emulator.cloud import (  # noqa: E402
    DEFAULT_PROJECT,
    service_account_file,
    user_credentials_file,
)
from gemini_vision.errors import (  # noqa: E402
    AuthenticationError,
    ConfigurationError,
    GeminiVisionError,
    NotFoundError,
    PermissionDeniedError,
)
from gemini_vision.tasks import TaskSpec  # noqa: E402

PLUGIN = "@gemini-vision/gemini"
LOCATION = "us-central1"
BUCKET = "media-bucket"


@pytest.fixture
def vertex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Path]]:
    """An emulator serving Vertex AI, tokens living 1.2 s, the environment pointing at it."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    config = EmulatorConfig(token_lifetime=1.2, gcs_buckets={BUCKET: str(bucket)})
    with Emulator(config) as emu:
        key_file = service_account_file(emu, tmp_path / "keys" / "labeller.json")
        for name, value in {
            "GOOGLE_GENAI_USE_VERTEXAI": "true",
            "GOOGLE_CLOUD_PROJECT": DEFAULT_PROJECT,
            "GOOGLE_CLOUD_LOCATION": LOCATION,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "GOOGLE_VERTEX_BASE_URL": emu.base_url,
            "STORAGE_EMULATOR_HOST": emu.base_url,
        }.items():
            monkeypatch.setenv(name, value)
        yield emu, key_file


@pytest.fixture(scope="module")
def scene_dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(6, seed=300)


@pytest.fixture
def dataset(scene_dataset: Any, datasets: DatasetFactory) -> Iterator[Any]:
    clear_cached_answers()  # every test here counts the requests Vertex AI really got
    clone = datasets.clone(scene_dataset)
    yield clone
    clone.delete()


def run(name: str, dataset: Any, delegated: bool = False, **params: Any) -> Any:
    result = foo.execute_operator(
        f"{PLUGIN}/{name}",
        ctx={"dataset": dataset, "params": params},
        request_delegation=delegated,
    )
    if delegated:
        service = DelegatedOperationService()
        service.execute_queued_operations(dataset_name=dataset.name)
        doc = service.get(result.result["id"])
        assert doc.run_state == "completed", doc.result.error if doc.result else doc
        result = doc.result
    dataset.reload()
    return result


def latest(dataset: Any, field: str) -> dict[str, Any]:
    summary = runs.load_summary(dataset, field)
    assert summary is not None
    return summary["latest"]


def refusal(name: str, dataset: Any, **params: Any) -> str:
    with pytest.raises(foo.executor.ExecutionError) as caught:
        foo.execute_operator(f"{PLUGIN}/{name}", ctx={"dataset": dataset, "params": params})
    message = str(caught.value)
    assert "Traceback" not in message and "Reason: " in message, message
    return message.split("Reason: ", 1)[1]


def credentials_from(path: Path) -> Any:
    return service_account.Credentials.from_service_account_file(
        str(path), scopes=[CLOUD_PLATFORM_SCOPE]
    )


# -- every way in, tokens expiring during the runs ----------------------------------------------


def test_every_task_operator_on_vertex_with_tokens_expiring(
    vertex: tuple[Emulator, Path], dataset: Any
) -> None:
    emu, _ = vertex
    count = len(dataset)
    emu.config.latency = 0.25  # with 2 in flight, the detection run outlives two tokens
    issued = emu.api.tokens.issued
    run("detect_objects", dataset, label_field="det", concurrency=2, gt_field=GT_DETECTIONS)
    assert emu.api.tokens.issued - issued >= 3  # the form's check, then refreshes mid-run
    emu.config.latency = 0.02
    run("segment_objects", dataset, label_field="seg")
    run("classify_images", dataset, label_field="cls", classes=["circle", "square", "star"])
    run("caption_images", dataset, True, label_field="cap")  # delegated, as a worker runs it
    run("ask_images", dataset, label_field="ans", prompt="How many shapes are there?")
    run("point_objects", dataset, label_field="pts")
    for field in ("det", "seg", "cls", "cap", "ans", "pts"):
        record = latest(dataset, field)
        assert (record["labelled"], record["failed"]) == (count, 0), (field, record)
    assert dataset.get_evaluation_info("eval_det") is not None
    assert (
        dataset.first()["det"].detections and dataset.first()["seg"].detections[0].mask is not None
    )
    ids = dataset.limit(2).values("id")
    answer = foo.execute_operator(
        f"{PLUGIN}/ask_about_selection",
        ctx={"dataset": dataset, "selected": ids, "params": {"target": "SELECTED_SAMPLES"}},
    )
    assert answer.result["answer"] and answer.result["num_images"] == 2
    sample = foo.execute_operator(
        f"{PLUGIN}/ask_about_sample",
        ctx={"dataset": dataset, "params": {"sample_id": ids[0], "question": "What is this?"}},
    )
    assert sample.result["answer"]
    # no token was ever used after it expired, so none had to be sent twice
    assert emu.api.tokens.expired_uses == 0
    assert emu.stats.count(status=401) == 0
    assert emu.stats.count("generateContent", 200) >= 6 * count


def test_run_task_and_the_model_in_python_with_explicit_settings(
    vertex: tuple[Emulator, Path], dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, key_file = vertex
    for name in (
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_VERTEX_BASE_URL",
    ):
        monkeypatch.delenv(name)  # everything in the arguments this time
    settings = RunSettings(
        vertexai=True,
        project=DEFAULT_PROJECT,
        location=LOCATION,
        credentials=credentials_from(key_file),
        base_url=emu.base_url,
        concurrency=2,
    )
    emu.config.latency = 0.3
    summary = run_task(dataset, TaskSpec(kind="detect"), "det", settings=settings)
    assert (summary.report["labelled"], summary.report["failed"]) == (len(dataset), 0)
    emu.config.latency = 0.0
    model = GeminiModel(
        "detect",
        vertexai=True,
        project=DEFAULT_PROJECT,
        location=LOCATION,
        credentials=credentials_from(key_file),
        base_url=emu.base_url,
    )
    # FiftyOne decodes the images it hands to a model itself, and cannot read HEIC
    readable = dataset.match(F("filepath").re_match(r".*\.(jpg|jpeg|png)$"))
    assert len(readable) >= 2
    readable.apply_model(model, label_field="applied", batch_size=3)
    assert all(len(d.detections) > 0 for d in readable.values("applied"))
    assert emu.api.tokens.expired_uses == 0


def test_batch_mode_is_refused_on_vertex(vertex: tuple[Emulator, Path], dataset: Any) -> None:
    emu, _ = vertex
    reason = refusal("detect_objects", dataset, label_field="b", mode="batch")
    assert "Vertex AI does not offer" in reason and "mode='online'" in reason
    with pytest.raises(ConfigurationError, match="Vertex AI does not offer"):
        run_task(dataset, TaskSpec(kind="detect"), "b", settings=RunSettings(mode="batch"))
    assert emu.stats.requests.get("generateContent", 0) == 0


def test_vertex_quota_429s_without_retry_info_are_paced_until_all_are_labelled(
    vertex: tuple[Emulator, Path], dataset: Any
) -> None:
    """Vertex AI's shared dynamic quota answers a bare 429 when busy: the run slows down and
    asks again, and every sample is labelled."""
    emu, _ = vertex
    emu.config.rpm = 3
    emu.config.quota_window = 1.0
    summary = run_task(
        dataset, TaskSpec(kind="caption"), "cap", settings=RunSettings(concurrency=4)
    )
    assert (summary.report["labelled"], summary.report["failed"]) == (len(dataset), 0)
    assert emu.stats.count("generateContent", 429) > 0
    assert summary.report["rate_limited"] > 0


# -- refused before anything is paid for ------------------------------------------------------


def test_wrong_project_region_credentials_and_missing_project_are_refused_for_free(
    vertex: tuple[Emulator, Path], dataset: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu, _ = vertex
    emu.config.vertex_projects = {DEFAULT_PROJECT}
    emu.config.vertex_models_by_location = {LOCATION: emu.config.models, "europe-west9": ()}

    def refused(expected: type[Exception], *needles: str) -> None:
        reason = refusal("detect_objects", dataset, label_field="det")
        with pytest.raises(expected) as raised:
            run_task(dataset, TaskSpec(kind="detect"), "det")
        for text in (reason, str(raised.value)):
            for needle in needles:
                assert needle in text, (needle, text)

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "someone-elses-project")
    refused(PermissionDeniedError, "someone-elses-project", "roles/aiplatform.user")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west9")
    refused(NotFoundError, "not available in location 'europe-west9'", "GOOGLE_CLOUD_LOCATION")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", LOCATION)
    revoked = service_account_file(emu, tmp_path / "revoked.json", name="revoked")
    emu.config.revoked_credentials.add(f"revoked@{DEFAULT_PROJECT}.iam.gserviceaccount.com")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(revoked))
    refused(AuthenticationError, "refused to issue an access token", "revoked")
    # a user's gcloud login names no project: without GOOGLE_CLOUD_PROJECT nothing can be sent
    # (google-auth sends a user's refresh token to Google's own token endpoint whatever the
    # file says; here that endpoint is the emulator's)
    monkeypatch.setattr(
        google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{emu.base_url}/token"
    )
    user = user_credentials_file(emu, tmp_path / "user.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    refused(ConfigurationError, "GOOGLE_CLOUD_PROJECT")
    # the same user with a project works
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT)
    assert emu.stats.requests.get("generateContent", 0) == 0  # nothing paid for so far
    run("caption_images", dataset, label_field="cap")
    assert latest(dataset, "cap")["labelled"] == len(dataset)
    # ... until the login expires, after the form was shown: the run refuses to start
    emu.config.revoked_credentials.add(json.loads(user.read_text())["refresh_token"])
    with pytest.raises(foo.executor.ExecutionError, match="expired or revoked"):
        foo.execute_operator(
            f"{PLUGIN}/detect_objects", ctx={"dataset": dataset, "params": {"label_field": "d"}}
        )
    with pytest.raises(AuthenticationError, match="gcloud auth application-default login"):
        run_task(dataset, TaskSpec(kind="detect"), "d")
    dataset.reload()
    assert not dataset.has_field("det") and not dataset.has_field("d")  # nothing created
    assert emu.stats.count("generateContent") == len(dataset)  # the one caption run


# -- Cloud Storage media ----------------------------------------------------------------------


def test_gs_media_is_read_by_reference_and_unsafe_images_are_refused(
    vertex: tuple[Emulator, Path], datasets: DatasetFactory
) -> None:
    emu, _ = vertex
    bucket = Path(emu.config.gcs_buckets[BUCKET])
    truth, uris = [], []
    for i in range(3):
        scene = scenes.generate_scene(400 + i, (640, 480), n_objects=3)
        scenes.save_scene(scene, bucket / f"plain_{i}.jpg")
        truth.append(scene)
        uris.append(f"gs://{BUCKET}/plain_{i}.jpg")
    rotated = scenes.generate_scene(410, (640, 480), n_objects=3)
    scenes.save_scene(rotated, bucket / "rotated.jpg", orientation=6)
    scenes.save_scene(rotated, bucket / "scan.tiff")
    uris += [f"gs://{BUCKET}/rotated.jpg", f"gs://{BUCKET}/scan.tiff", f"gs://{BUCKET}/gone.jpg"]
    dataset = datasets.samples([fo.Sample(filepath=f"/placeholder/{i}.jpg") for i in range(6)])
    dataset.set_values("filepath", uris)  # FiftyOne keeps cloud paths as they are
    summary = run_task(dataset, TaskSpec(kind="detect"), "det")
    assert (summary.report["labelled"], summary.report["failed"]) == (3, 3)
    errors = dict(zip(dataset.values("filepath"), dataset.values("det_error"), strict=True))
    assert "EXIF orientation 6" in errors[uris[3]] and "misplaced" in errors[uris[3]]
    assert "format TIFF" in errors[uris[4]]
    assert "no such object" in errors[uris[5]]
    for uri, scene in zip(uris[:3], truth, strict=True):
        detections = dataset.select_by("filepath", uri).first()["det"].detections
        width, height = scene.size
        for obj in scenes.ground_truth(scene).detections:
            x0, y0, x1, y1 = obj.box_xyxy
            best = max(
                _iou(
                    (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height),
                    d.bounding_box,
                )
                for d in detections
            )
            assert best >= 0.8, (uri, obj.label, best)
    # the bytes were never downloaded: only their headers, two reads per object
    assert emu.stats.requests["storage.objects.get"] <= 2 * 6


def _iou(a: tuple[float, ...], b: list[float]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    width = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    height = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


# -- secrets ----------------------------------------------------------------------------------


def test_no_private_key_or_access_token_is_stored_logged_or_shown(
    vertex: tuple[Emulator, Path],
    dataset: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: httpx and google-auth included
    emu, key_file = vertex
    emu.config.fault_rate_500 = 0.2
    emu.config.malformed_rate = 0.2
    errors_seen: list[str] = []
    run("detect_objects", dataset, label_field="det")
    run("caption_images", dataset, True, label_field="cap")
    run_task(dataset, TaskSpec(kind="point"), "pts")
    # refused credentials, in the form and in Python
    revoked = service_account_file(emu, tmp_path / "revoked.json", name="revoked")
    emu.config.revoked_credentials.add(f"revoked@{DEFAULT_PROJECT}.iam.gserviceaccount.com")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(revoked))
    errors_seen.append(refusal("detect_objects", dataset, label_field="x"))
    errors_seen += _raised(lambda: run_task(dataset, TaskSpec(kind="detect"), "x"))
    # tokens the server stops accepting in the middle of a run
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    emu.config.latency = 0.2
    emu.api.tokens.revoke_all()
    run("classify_images", dataset, label_field="cls", classes=["circle", "square"])

    private_key = service_account.Credentials.from_service_account_file(str(key_file))
    info = json.loads(key_file.read_text())
    key_lines = [line for line in info["private_key"].splitlines() if "-----" not in line]
    needles = [*key_lines[1:-1], info["private_key_id"], *emu.api.tokens.all_issued()]
    assert private_key is not None and len(needles) > 20
    assert len(emu.api.tokens.all_issued()) >= 4
    dump = _database_dump()
    assert b"delegated" in dump  # the delegated operation is in the dump
    logged = "\n".join(_record_text(r) for r in caplog.records)
    out, err = capsys.readouterr()
    summaries = str([latest(dataset, f) for f in ("det", "cap", "pts", "cls")])
    for needle in needles:
        assert dump.count(needle.encode()) == 0, "a secret is stored in the database"
        assert needle not in logged, "a secret was logged"
        assert needle not in out and needle not in err, "a secret was printed"
        assert not [t for t in errors_seen if needle in t], "an error shows a secret"
        assert needle not in summaries
    assert re.search(r"ya29\.", logged) is None


def _raised(action: Any) -> list[str]:
    try:
        action()
    except GeminiVisionError as exc:
        return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    raise AssertionError("expected an error")


def _database_dump() -> bytes:
    db = foo_odm.get_db_conn()
    return b"".join(
        bson.BSON.encode(doc) for name in db.list_collection_names() for doc in db[name].find()
    )


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), str(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return " ".join(parts)
