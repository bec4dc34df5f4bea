"""The API key never lands anywhere: after immediate, delegated and batch runs, failures of
every kind, uploads and work claims, the recognisable fake key appears zero times in the whole
database (every collection, delegated operations and run results included), in any log record
at any level, in printed output, and in the text of any error raised."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import traceback
import uuid
from pathlib import Path
from typing import Any

import bson
import pytest
from support import run_settings
from support.datasets import DatasetFactory, write_variants

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

import fiftyone.core.odm as foo_odm  # noqa: E402
from fiftyone.operators.delegated import DelegatedOperationService  # noqa: E402

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.adapters import runs  # noqa: E402
from gemini_vision.adapters.mongo import MongoUploads  # noqa: E402
from gemini_vision.api.client import AsyncGeminiClient, GeminiClient  # noqa: E402
from gemini_vision.api.retry import RetryPolicy  # noqa: E402
from gemini_vision.api.wire import Content, GenerateContentRequest, Part  # noqa: E402
from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402
from gemini_vision.engine import Engine, WorkItem  # noqa: E402
from gemini_vision.tasks.spec import TaskSpec  # noqa: E402

#: recognisable, and not shaped like a Google key (so no generic key pattern can hide a leak)
FAKE_KEY = "gvFAKEKEY-7c41e9d0b3a2-do-not-store"
PLUGIN = "@gemini-vision/gemini"
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.01, max_attempts=2)


@pytest.fixture
def dataset(tmp_path: Path, datasets: DatasetFactory) -> Any:
    files = write_variants(tmp_path / "imgs", 12, bases=4, seed=5, salt=uuid.uuid4().hex)
    ds = datasets.files(files, persistent=True)
    ds.add_sample(fo.Sample(filepath=str(tmp_path / "missing.png"), base=-1))
    return ds


def operator(name: str, dataset: Any, delegated: bool = False, **params: Any) -> Any:
    """Runs an operator; returns the latest summary recorded for its output field."""
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
    dataset.reload()
    summary = runs.load_summary(dataset, params["label_field"])
    assert summary is not None
    return summary["latest"]


def raised_texts(action: Any) -> list[str]:
    """Everything an error raised by ``action`` shows: message, repr, traceback, causes."""
    try:
        action()
    except Exception as exc:
        texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        cause = exc.__cause__ or exc.__context__
        while cause is not None:
            texts += [str(cause), repr(cause)]
            cause = cause.__cause__ or cause.__context__
        return texts
    raise AssertionError("expected an error")


def database_dump() -> bytes:
    """Every document of every collection of this test's database, as BSON."""
    db = foo_odm.get_db_conn()
    return b"".join(
        bson.BSON.encode(doc) for name in db.list_collection_names() for doc in db[name].find()
    )


def test_the_key_is_never_stored_logged_or_shown(
    dataset: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level, httpx included
    errors_seen: list[str] = []
    summaries: list[Any] = []
    config = EmulatorConfig(
        fault_rate_429=0.2,
        fault_429_retry_delay=0.01,
        fault_rate_500=0.1,
        malformed_rate=0.1,
        safety_rate=0.1,
        batch_pending_time=0.05,
        batch_running_time=0.1,
    )
    with Emulator(config) as emu:
        monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emu.base_url)

        # immediate, delegated and batch runs, with faults and a missing file
        summaries.append(operator("detect_objects", dataset, label_field="det"))
        summaries.append(operator("caption_images", dataset, True, label_field="cap"))
        summaries.append(operator("detect_objects", dataset, True, label_field="b", mode="batch"))
        summaries.append(
            operator("classify_images", dataset, label_field="cls", classes=["circle", "square"])
        )
        summaries.append(
            run_task(
                dataset,
                TaskSpec(kind="point"),
                "pts",
                settings=RunSettings(api_key=FAKE_KEY, base_url=emu.base_url, mode="batch"),
            ).report
        )
        # images uploaded with the Files API, their records kept in the database
        asyncio.run(_upload_run(emu, [str(p) for p in dataset.values("filepath")[:3]]))

        # the key refused by the server: the run stops, the reason is recorded
        emu.config.rejected_api_keys = {FAKE_KEY}
        summaries.append(operator("detect_objects", dataset, label_field="refused"))
        summaries.append(operator("detect_objects", dataset, True, label_field="refused2"))
        request = GenerateContentRequest(contents=[Content(parts=[Part(text="hi")])])
        with GeminiClient(FAKE_KEY, base_url=emu.base_url) as client:
            errors_seen += raised_texts(
                lambda: client.generate_content("gemini-2.5-flash", request)
            )
            errors_seen += raised_texts(
                lambda: client.create_batch("gemini-2.5-flash", [("k", request)])
            )
            errors_seen += raised_texts(
                lambda: client.upload_file(b"\x89PNG", mime_type="image/png")
            )
        base = emu.base_url
    # nobody listens any more: connection errors
    with GeminiClient(FAKE_KEY, base_url=base, retry=FAST_RETRY) as client:
        errors_seen += raised_texts(lambda: client.generate_content("gemini-2.5-flash", request))
    errors_seen += raised_texts(lambda: GeminiClient(FAKE_KEY + " x"))  # a malformed key

    # the runs really happened, and really failed where they should
    assert summaries[0]["labelled"] > 0 and summaries[0]["failed"] > 0
    assert summaries[2]["mode"] == "batch" and summaries[2]["labelled"] > 0
    assert summaries[4]["mode"] == "batch" and summaries[4]["labelled"] > 0
    assert "refused" in summaries[5]["stopped_reason"]
    assert "refused" in summaries[6]["stopped_reason"]
    assert len(errors_seen) >= 15 and any("API key" in text for text in errors_seen)

    # nothing derived from the key alone either: its plain digest could confirm a guess
    unsalted = hashlib.sha256(f"{base.rstrip('/')}\0{FAKE_KEY}".encode()).hexdigest()[:24]
    needles = (FAKE_KEY, base64.b64encode(FAKE_KEY.encode()).decode(), unsalted)
    dump = database_dump()
    assert dump.count(b"gemini_vision_uploads") or "gemini_vision_uploads" in _collections()
    assert any(b"gemini_vision_responses" in name.encode() for name in _collections())
    assert dump.count(b"delegated") > 0  # the delegated operations are in the dump
    for needle in needles:
        assert dump.count(needle.encode()) == 0, f"the key is stored in the database ({needle})"
        logged = [r for r in caplog.records if needle in _record_text(r)]
        assert not logged, f"the key was logged: {logged[:1]}"
        assert not [t for t in errors_seen if needle in t], "an error shows the key"
        assert needle not in str(summaries)
    out, err = capsys.readouterr()
    assert FAKE_KEY not in out and FAKE_KEY not in err
    assert FAKE_KEY not in repr(RunSettings(api_key=FAKE_KEY))


async def _upload_run(emu: Emulator, paths: list[str]) -> None:
    async with AsyncGeminiClient(FAKE_KEY, base_url=emu.base_url) as client:
        settings = run_settings(model="gemini-2.5-flash", inline_limit_bytes=1024)
        engine = Engine(client, TaskSpec(kind="detect"), settings, uploads=MongoUploads())
        report = await engine.run(
            [WorkItem(str(i), p) for i, p in enumerate(paths)], lambda b: None
        )
        assert report.uploaded_files >= 1


def _collections() -> list[str]:
    return foo_odm.get_db_conn().list_collection_names()


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), str(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return " ".join(parts)
