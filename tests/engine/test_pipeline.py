"""The engine against the emulator over a real socket (no FiftyOne): concurrency, caching,
coalescing, stops, backpressure, Files API reuse, and running inside an event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import run_settings
from support.datasets import write_variants

from gemini_vision.api.client import AsyncGeminiClient
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.emulator.model import responder
from gemini_vision.engine import (
    Engine,
    EngineReport,
    ItemOutcome,
    WorkItem,
    run_coroutine_sync,
)
from gemini_vision.engine.cache import MemoryCache
from gemini_vision.engine.pipeline import CANCELLED_REASON
from gemini_vision.engine.ratelimit import RateLimiter
from gemini_vision.engine.uploads import MemoryUploads
from gemini_vision.settings import RunSettings
from gemini_vision.tasks.spec import TaskSpec

MODEL = "gemini-2.5-flash"
KEY = "test-key-pipeline-0001"
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.01)
#: the engines run_engine made, last one last
ENGINES: list[Engine] = []


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [p for p, _ in write_variants(tmp_path_factory.mktemp("imgs"), 40, bases=8)]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(seed=3)) as server:
        yield server


def run_engine(
    emu: Emulator,
    sources: list[Any],
    *,
    sink: Any = None,
    task: TaskSpec | None = None,
    api_key: str = KEY,
    **settings: Any,
) -> tuple[EngineReport, dict[str, ItemOutcome]]:
    """Runs an engine over ``sources`` (keys "0", "1", ...); returns its report and outcomes."""
    outcomes: dict[str, ItemOutcome] = {}
    cache = settings.pop("cache", None)
    uploads = settings.pop("uploads", None)
    timeout = settings.pop("timeout", 10.0)
    sink_ready = settings.pop("sink_ready", None)
    cancel = settings.pop("cancel", None)
    convert = settings.pop("convert", None)

    def collect(batch: list[ItemOutcome]) -> None:
        outcomes.update((o.key, o) for o in batch)
        if sink is not None:
            sink(batch)

    async def go() -> EngineReport:
        limiter = RateLimiter(settings.pop("rate_limits", None))
        client = AsyncGeminiClient(
            api_key,
            base_url=emu.base_url,
            retry=FAST_RETRY,
            timeout=timeout,
            on_rate_limited=limiter.on_rate_limited,
        )
        engine = Engine(
            client,
            task or TaskSpec(kind="detect"),
            run_settings(model=MODEL, **settings),
            cache=cache,
            limiter=limiter,
            uploads=uploads,
        )
        ENGINES.append(engine)
        async with client:
            items = [WorkItem(str(i), source) for i, source in enumerate(sources)]
            return await engine.run(
                items,
                collect,
                total=len(items),
                sink_ready=sink_ready,
                cancel=cancel,
                convert=convert,
            )

    return run_coroutine_sync(go), outcomes


def test_every_item_is_answered_and_concurrency_overlaps_latency(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.latency = 0.2
    started = time.monotonic()
    report, outcomes = run_engine(emu, [str(p) for p in files[:32]], concurrency=8)
    elapsed = time.monotonic() - started
    assert {o.status for o in outcomes.values()} == {"ok"} and len(outcomes) == 32
    assert all(o.answer.objects for o in outcomes.values())
    # 32 requests, 8 at a time, 0.2 s each: 4 rounds, far from 32 sequential ones (6.4 s)
    assert 0.8 <= elapsed < 3.0
    assert report.requests == emu.stats.count("generateContent") == 32


def test_no_more_requests_than_the_concurrency_are_on_the_wire(files: list[Path]) -> None:
    """Workers beyond the concurrency prepare their requests ahead, but wait for a slot."""
    lock, on_the_wire, peak = threading.Lock(), [0], [0]

    def slow(request: Any, images: list, *, model: str, rng: Any) -> Any:
        with lock:
            on_the_wire[0] += 1
            peak[0] = max(peak[0], on_the_wire[0])
        time.sleep(0.03)
        with lock:
            on_the_wire[0] -= 1
        return responder.respond(request, images, model=model, rng=rng)

    with Emulator(EmulatorConfig(seed=3), respond=slow) as server:
        _report, outcomes = run_engine(server, [str(p) for p in files[:30]], concurrency=3)
    assert len(outcomes) == 30 and {o.status for o in outcomes.values()} == {"ok"}
    assert peak[0] == 3


def test_the_next_request_leaves_while_an_answer_is_still_being_read(
    emu: Emulator, files: list[Path]
) -> None:
    """With one request in flight, building the labels of an answer does not hold up the
    next request: each answer's labels wait (up to 2 s) for it to be sent, and never have
    to."""
    emu.config.latency = 0.02
    total, waited_in_vain = 6, []

    def convert(outcome: ItemOutcome) -> str:
        sent = emu.stats.count("generateContent")
        deadline = time.monotonic() + 2.0
        while sent < total and emu.stats.count("generateContent") == sent:
            if time.monotonic() > deadline:
                waited_in_vain.append(outcome.key)
                break
            time.sleep(0.005)
        return "labels"

    _report, outcomes = run_engine(
        emu, [str(p) for p in files[:total]], concurrency=1, convert=convert
    )
    assert {o.converted for o in outcomes.values()} == {"labels"} and len(outcomes) == total
    assert waited_in_vain == []


def test_no_request_is_sent_while_the_sink_cannot_take_results(
    emu: Emulator, files: list[Path]
) -> None:
    """A sink whose database is gone: the requests in flight finish, no new one starts until
    the sink says it can take results again, then the run completes."""
    emu.config.latency = 0.05
    down_from, up_at = 6, time.monotonic() + 10**6
    sent_while_down: list[int] = []

    def sink_ready() -> bool:
        nonlocal up_at
        sent = emu.stats.count("generateContent")
        if sent < down_from:
            return True
        if up_at > 10**5:  # the sink just went down: it comes back in 0.6 s
            up_at = time.monotonic() + 0.6
        if time.monotonic() < up_at:
            sent_while_down.append(sent)
            return False
        return True

    _report, outcomes = run_engine(
        emu, [str(p) for p in files[:12]], concurrency=2, sink_ready=sink_ready
    )
    assert {o.status for o in outcomes.values()} == {"ok"} and len(outcomes) == 12
    assert len(sent_while_down) >= 2  # the workers waited, looking again
    # while the sink was down, only the requests already in flight (2) were answered
    assert max(sent_while_down) <= down_from + 2, sent_while_down


def test_a_cancelled_run_sends_nothing_more_and_keeps_what_was_answered(
    emu: Emulator, files: list[Path]
) -> None:
    """Another thread sets ``cancel`` (the App closed the run): the requests in flight are
    answered and handed to the sink, no new one is sent, the rest stays untouched."""
    emu.config.latency = 0.1
    cancel = threading.Event()
    at_cancel: list[int] = []

    def sink(batch: list[ItemOutcome]) -> None:
        if not cancel.is_set() and emu.stats.count("generateContent") >= 6:
            at_cancel.append(emu.stats.count("generateContent"))
            threading.Timer(0.0, cancel.set).start()  # from another thread, as the App does

    report, outcomes = run_engine(
        emu,
        [str(p) for p in files[:40]],
        concurrency=3,
        sink=sink,
        cancel=cancel,
        write_batch_size=1,
    )
    sent = emu.stats.count("generateContent")
    assert at_cancel and sent <= at_cancel[0] + 3 + 3  # in flight, and those already started
    assert len(outcomes) == sent < 40  # every answer reached the sink
    assert report.progress.stopped_reason == CANCELLED_REASON
    assert not report.progress.refused  # not the key's or the quota's fault


def test_identical_images_in_flight_are_asked_once(emu: Emulator, files: list[Path]) -> None:
    emu.config.latency = 0.2
    report, outcomes = run_engine(emu, [str(files[0])] * 10, concurrency=10)
    assert emu.stats.count("generateContent") == 1
    assert [o.status for o in outcomes.values()] == ["ok"] * 10
    assert report.progress.cached == 9


def test_cached_answers_cost_nothing_on_a_rerun(emu: Emulator, files: list[Path]) -> None:
    cache = MemoryCache()
    first, _ = run_engine(emu, [str(p) for p in files[:12]], cache=cache)
    second, outcomes = run_engine(emu, [str(p) for p in files[:12]], cache=cache)
    assert first.requests == 12 and second.requests == 0
    assert second.progress.cached == 12 and all(o.cached for o in outcomes.values())
    assert emu.stats.count("generateContent") == 12


def test_per_day_quota_stops_cleanly_keeping_what_finished(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.rpd = 5
    report, outcomes = run_engine(emu, [str(p) for p in files[:30]], concurrency=2)
    ok = [o for o in outcomes.values() if o.status == "ok"]
    assert len(ok) == 5
    assert len(outcomes) == 5  # nothing else was touched: no failure recorded for the rest
    reason = report.progress.stopped_reason or ""
    assert "Per-day quota exhausted" in reason and "run again" in reason
    assert report.to_dict()["stopped_reason"] == reason


def test_a_stop_does_not_wait_for_a_long_server_pause(emu: Emulator, files: list[Path]) -> None:
    # the per-day 429 asks to wait until midnight; paced workers must not sleep that long
    emu.config.rpd = 3
    emu.config.latency = 0.05
    started = time.monotonic()
    report, _ = run_engine(emu, [str(p) for p in files[:40]], concurrency=6)
    assert report.progress.stopped_reason
    assert time.monotonic() - started < 5


def test_a_refused_key_stops_the_run_with_a_clear_reason(emu: Emulator, files: list[Path]) -> None:
    emu.config.rejected_api_keys = {"bad-key-0001"}
    report, outcomes = run_engine(emu, [str(p) for p in files[:10]], api_key="bad-key-0001")
    assert not outcomes
    assert "API key was refused" in (report.progress.stopped_reason or "")
    assert "bad-key-0001" not in (report.progress.stopped_reason or "")


def test_truncated_answers_with_nothing_to_keep_are_asked_again_once_then_recorded(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.max_tokens_rate = 1.0
    report, outcomes = run_engine(emu, [str(files[0])], task=TaskSpec(kind="caption"))
    outcome = outcomes["0"]
    assert outcome.status == "failed" and outcome.error_type == "TruncatedResponseError"
    assert emu.stats.count("generateContent") == 2
    assert report.parse_retries == 1


def test_truncated_detections_keep_their_complete_objects_and_say_so(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.max_tokens_rate = 1.0
    cache = MemoryCache()
    _, outcomes = run_engine(emu, [str(files[0])], cache=cache)
    outcome = outcomes["0"]
    assert outcome.status == "ok" and outcome.answer.objects
    assert outcome.incomplete and "cut off at the output limit" in outcome.incomplete
    assert outcome.incomplete in outcome.warnings
    assert emu.stats.count("generateContent") == 2  # asked again once, in vain
    assert len(cache) == 0  # a partial answer is not cached as if it were complete


ITEMS = [
    '{"box_2d": [100, 100, 500, 500], "label": "circle"}',
    '{"box_2d": [600, 600, 900, 900], "label": "square"}',
    '{"box_2d": [100, 600, 400, 900], "label": "star"}',
]
FULL = "[" + ", ".join(ITEMS) + "]"
ONE_KEPT = FULL[: len(ITEMS[0]) + 20]  # cut inside the second object
TWO_KEPT = FULL[: len(ITEMS[0]) + len(ITEMS[1]) + 20]  # cut inside the third


def scripted_answers(
    texts: list[str], finish: list[str] | None = None, requests: list[dict] | None = None
) -> tuple[httpx.MockTransport, list[int]]:
    """A transport answering generateContent with ``texts`` in turn (finish reasons from
    ``finish``, default STOP); counts the calls and keeps the request bodies in ``requests``."""
    calls = [0]

    def handle(request: httpx.Request) -> httpx.Response:
        turn = min(calls[0], len(texts) - 1)
        calls[0] += 1
        if requests is not None:
            requests.append(json.loads(request.content))
        reason = finish[turn] if finish else "STOP"
        body = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": texts[turn]}]},
                    "finishReason": reason,
                }
            ],
            "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 40},
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle), calls


@pytest.mark.parametrize(
    ("texts", "objects", "cached"),
    [
        ([ONE_KEPT, FULL], 3, True),  # the second answer is complete: kept and cached
        ([TWO_KEPT, ONE_KEPT], 2, False),  # both cut: the fuller one is kept, not cached
    ],
    ids=["complete-on-retry", "best-of-two-partials"],
)
def test_answers_cut_short_are_asked_again_once_and_the_best_is_kept(
    files: list[Path], texts: list[str], objects: int, cached: bool
) -> None:
    transport, calls = scripted_answers(texts)
    cache = MemoryCache()

    async def go() -> dict[str, ItemOutcome]:
        outcomes: dict[str, ItemOutcome] = {}
        async with AsyncGeminiClient(KEY, base_url="http://gemini.test", transport=transport) as c:
            engine = Engine(c, TaskSpec(kind="detect"), RunSettings(model=MODEL), cache=cache)
            sink = lambda batch: outcomes.update((o.key, o) for o in batch)  # noqa: E731
            await engine.run([WorkItem("0", str(files[0]))], sink)
        return outcomes

    outcome = asyncio.run(go())["0"]
    assert calls[0] == 2
    assert outcome.status == "ok" and len(outcome.answer.objects) == objects
    assert (len(cache) == 1) is cached
    assert bool(outcome.warnings) is not cached


def run_scripted(files: list[Path], transport: httpx.MockTransport, cache: Any) -> Any:
    """One detection item through an engine whose client talks to ``transport``."""

    async def go() -> tuple[EngineReport, dict[str, ItemOutcome]]:
        outcomes: dict[str, ItemOutcome] = {}
        async with AsyncGeminiClient(KEY, base_url="http://gemini.test", transport=transport) as c:
            engine = Engine(c, TaskSpec(kind="detect"), RunSettings(model=MODEL), cache=cache)
            sink = lambda batch: outcomes.update((o.key, o) for o in batch)  # noqa: E731
            report = await engine.run([WorkItem("0", str(files[0]))], sink)
        return report, outcomes

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("finish", "objects", "incomplete"),
    [
        (["MAX_TOKENS", "STOP"], 3, False),  # more room was enough: complete and cached
        (["MAX_TOKENS", "MAX_TOKENS"], 2, True),  # cut twice: the fuller kept, marked
    ],
    ids=["complete-with-more-room", "cut-twice"],
)
def test_an_answer_cut_at_the_output_limit_is_asked_again_with_twice_the_room(
    files: list[Path], finish: list[str], objects: int, incomplete: bool
) -> None:
    requests: list[dict] = []
    transport, calls = scripted_answers(
        [ONE_KEPT, FULL if not incomplete else TWO_KEPT], finish, requests
    )
    cache = MemoryCache()
    report, outcomes = run_scripted(files, transport, cache)
    outcome = outcomes["0"]
    caps = [r["generationConfig"]["maxOutputTokens"] for r in requests]
    assert calls[0] == 2 and caps[1] == 2 * caps[0], caps
    assert outcome.status == "ok" and len(outcome.answer.objects) == objects
    assert (outcome.incomplete is not None) is incomplete
    assert report.to_dict()["incomplete"] == int(incomplete)
    assert len(cache) == int(not incomplete)
    if incomplete:
        assert "cut off at the output limit; kept its 2 complete object(s)" in outcome.incomplete


def test_a_slow_sink_slows_the_workers_instead_of_piling_up_results(
    emu: Emulator, files: list[Path]
) -> None:
    written = [0]
    ahead: list[int] = []

    def slow_sink(batch: list[ItemOutcome]) -> None:
        time.sleep(0.05)
        written[0] += len(batch)
        # answers finished by the engine but not written yet
        ahead.append(ENGINES[-1].progress.done - written[0])

    sources = [str(files[i % len(files)]) for i in range(200)]
    run_engine(
        emu, sources, sink=slow_sink, concurrency=8, write_batch_size=4, write_interval_seconds=5
    )
    assert written[0] == 200
    # bounded by the results queue (max(2 x batch size, concurrency) = 8) and the 16 workers
    # (8 in flight, 8 prepared ahead) each holding one finished answer, whatever the number
    # of items
    assert max(ahead) <= 8 + 16


def test_sink_errors_stop_the_run_and_are_raised(emu: Emulator, files: list[Path]) -> None:
    def broken(batch: list[ItemOutcome]) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        run_engine(emu, [str(p) for p in files[:20]], sink=broken, write_batch_size=2)


def test_big_images_are_uploaded_once_and_reused_across_runs(
    emu: Emulator, files: list[Path]
) -> None:
    uploads = MemoryUploads()
    sources = [str(p) for p in files[:3]]
    first, outcomes = run_engine(emu, sources, uploads=uploads, inline_limit_bytes=1024)
    assert all(o.status == "ok" for o in outcomes.values())
    assert first.uploaded_files == 3 and emu.stats.count("files.upload") == 3
    second, outcomes = run_engine(emu, sources, uploads=uploads, inline_limit_bytes=1024)
    assert all(o.status == "ok" for o in outcomes.values())
    assert second.uploaded_files == 0 and second.reused_uploads == 3
    assert emu.stats.count("files.upload") == 3
    assert emu.stats.count("generateContent") == 6  # no cache: asked again, with the same files


def test_uploads_near_expiry_or_gone_from_the_server_are_uploaded_again(
    emu: Emulator, files: list[Path]
) -> None:
    uploads = MemoryUploads()
    source = [str(files[0])]
    emu.config.file_ttl = 1800  # expires within the hour: not worth referring to
    run_engine(emu, source, uploads=uploads, inline_limit_bytes=1024)
    run_engine(emu, source, uploads=uploads, inline_limit_bytes=1024)
    assert emu.stats.count("files.upload") == 2
    emu.config.file_ttl = 48 * 3600
    run_engine(emu, source, uploads=uploads, inline_limit_bytes=1024)
    (record,) = uploads._items.values()
    asyncio.run(_delete_file(emu, record.name))
    _, outcomes = run_engine(emu, source, uploads=uploads, inline_limit_bytes=1024)
    assert outcomes["0"].status == "ok"
    assert emu.stats.count("files.upload") == 4
    assert emu.stats.count("generateContent", 403) == 1


async def _delete_file(emu: Emulator, name: str) -> None:
    async with AsyncGeminiClient(KEY, base_url=emu.base_url) as client:
        await client.delete_file(name)


def test_bad_inputs_fail_alone_and_a_404_url_names_its_cause(
    emu: Emulator, files: list[Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    sources = [str(files[0]), f"{emu.base_url}/no/such/image.jpg", str(empty), str(files[1])]
    _, outcomes = run_engine(emu, sources)
    assert outcomes["0"].status == outcomes["3"].status == "ok"
    assert outcomes["1"].status == "failed" and "404" in (outcomes["1"].error or "")
    assert outcomes["2"].status == "failed" and "empty file" in (outcomes["2"].error or "")


def test_the_engine_runs_from_code_that_already_runs_an_event_loop(
    emu: Emulator, files: list[Path]
) -> None:
    async def app_handler() -> int:
        # the App's server and Jupyter call us from inside their loop
        _, outcomes = run_engine(emu, [str(p) for p in files[:4]])
        return sum(o.status == "ok" for o in outcomes.values())

    assert asyncio.run(app_handler()) == 4


def test_a_run_tunes_the_garbage_collector_and_puts_it_back(
    emu: Emulator, files: list[Path]
) -> None:
    """During a run, what existed before is frozen and the youngest objects are collected
    less often; afterwards the collector is as the run found it, including what someone
    else had frozen."""
    import gc

    during: list[tuple[int, int]] = []

    def sink(batch: list[ItemOutcome]) -> None:
        during.append((gc.get_freeze_count(), gc.get_threshold()[0]))

    before = gc.get_threshold()
    run_engine(emu, [str(p) for p in files[:4]], sink=sink)
    assert during and all(frozen > 0 and young == 20_000 for frozen, young in during)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.freeze()  # someone else's frozen objects
    try:
        frozen = gc.get_freeze_count()
        run_engine(emu, [str(p) for p in files[:4]])
        # still frozen (a few may have been freed meanwhile), not handed back by the run
        assert gc.get_freeze_count() > 0.9 * frozen and gc.get_threshold() == before
    finally:
        gc.unfreeze()
