"""The engine: stream work items through image preparation, Gemini and parsing, concurrently.

::

    items (sync iterator, e.g. a DB cursor; pulled in a thread)
      └─ producer ──► queue (bounded) ──► N workers ──► results (bounded) ──► writer ──► sink
                                          │ prepare image (thread pool, off the event loop)
                                          │ build request → cache lookup (content address);
                                          │   the same request in flight → wait for its answer
                                          │ rate limiter → client (5xx/timeouts retried inside;
                                          │   429s go back through the limiter) → cache put
                                          └ parse (ask again once on malformed/truncated text)

Memory stays flat whatever the number of items: the producer pulls from the iterator only as
fast as workers drain a bounded queue, and results leave in batches through a bounded queue
(a slow sink slows the workers down instead of piling results up). Every item ends either
``ok`` (an answer) or ``failed`` (a one-line reason naming the cause), except when the run is
stopped by an error that is not the item's fault (per-day quota exhausted, invalid API key,
unknown model): then unfinished items are left untouched, so a rerun picks them up, and
``Progress.stopped_reason`` says why and what to do.

This module is pure: the FiftyOne adapter supplies the items and the sink. The items, outcomes
and report live in :mod:`.outcomes` (re-exported here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gemini_vision import images as images_mod
from gemini_vision import tasks as tasks_mod
from gemini_vision.api import AsyncGeminiClient, wire
from gemini_vision.catalog import model_spec, price_for
from gemini_vision.engine.cache import ResponseCache, answer_from_response
from gemini_vision.engine.outcomes import (
    EngineReport,
    ImageInfo,
    ItemOutcome,
    Progress,
    Verdict,
    WorkItem,
    failed_outcome,
    read_response,
    stop_message,
)
from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings
from gemini_vision.engine.requests import PreparedRequest, RequestBuilder
from gemini_vision.engine.uploads import UploadRegistry
from gemini_vision.errors import (
    AuthenticationError,
    GeminiVisionError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
)

__all__ = [
    "Engine",
    "EngineReport",
    "EngineSettings",
    "ImageInfo",
    "ItemOutcome",
    "Progress",
    "Verdict",
    "WorkItem",
    "failed_outcome",
    "read_response",
    "run_coroutine_sync",
    "stop_message",
    "take",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: errors that are not the item's fault and would fail every other item the same way
FATAL_ERRORS: tuple[type[GeminiVisionError], ...] = (
    QuotaExhaustedError,
    AuthenticationError,
    NotFoundError,
)


@dataclass(frozen=True)
class EngineSettings:
    model: str
    max_image_side: int | None = images_mod.DEFAULT_MAX_SIDE
    concurrency: int = 16
    prepare_workers: int = 2
    #: extra requests for an answer that was malformed or truncated before giving up
    parse_retries: int = 1
    write_batch_size: int = 64
    write_interval_seconds: float = 2.0
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    #: requests whose inline images exceed this many bytes upload them with the Files API
    inline_limit_bytes: int = 20 * 1024 * 1024
    request_options: dict[str, Any] = field(default_factory=dict)
    #: seconds in-flight requests may still finish once the run is stopping
    stop_grace_seconds: float = 2.0
    #: times one request is sent again after a 429 (each time paced by the limiter)
    rate_limit_retries: int = 8


class _Stop(Exception):
    """Raised inside a worker when the run must stop for a reason that is not the item's."""


class Engine:
    """Runs one task over many items with bounded concurrency, pacing, caching and retries."""

    def __init__(
        self,
        client: AsyncGeminiClient,
        task: tasks_mod.TaskSpec,
        settings: EngineSettings,
        *,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        uploads: UploadRegistry | None = None,
    ) -> None:
        tasks_mod.check_model_supports(task, settings.model)
        self.client = client
        self.task = task
        self.settings = settings
        self.cache = cache
        self.limiter = limiter or RateLimiter(settings.rate_limits)
        self.on_progress = on_progress
        self.progress = Progress()
        self.errors: Counter[str] = Counter()
        self.builder = RequestBuilder(
            task,
            model=settings.model,
            client=client,
            max_image_side=settings.max_image_side,
            request_options=settings.request_options,
            inline_limit_bytes=settings.inline_limit_bytes,
            uploads=uploads,
            prepare_workers=settings.prepare_workers,
        )
        self._stop_reason: str | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._cancel_timer: asyncio.TimerHandle | None = None
        self._price = price_for(settings.model)
        self._retries_before = client.stats.retries
        self._requests_before = client.stats.requests
        self._parse_retries = 0
        self._rate_limit_retries = 0
        self._in_flight: dict[str, asyncio.Future[ItemOutcome]] = {}
        self._convert: Callable[[ItemOutcome], Any] | None = None

    # ---------------------------------------------------------------------------------------
    # public API

    async def run(
        self,
        items: Iterable[WorkItem],
        sink: Callable[[list[ItemOutcome]], None],
        *,
        total: int | None = None,
        convert: Callable[[ItemOutcome], Any] | None = None,
    ) -> EngineReport:
        """Processes every item (or until a fatal error) and hands outcomes to ``sink``.

        ``sink`` runs in a worker thread, with batches of outcomes, in order of completion.
        An exception from ``sink`` stops the run and is re-raised here. ``convert`` (if given)
        turns each successful outcome into what the sink stores (``outcome.converted``); it
        runs in the engine's thread pool as answers arrive, so the sink only has to store."""
        self.progress = Progress(total=total)
        self._convert = convert
        concurrency = max(1, self.settings.concurrency)
        work: asyncio.Queue[WorkItem | None] = asyncio.Queue(maxsize=2 * concurrency)
        results: asyncio.Queue[ItemOutcome | None] = asyncio.Queue(
            maxsize=max(2 * self.settings.write_batch_size, concurrency)
        )
        writer = asyncio.create_task(self._write(results, sink))
        producer = asyncio.create_task(self._produce(iter(items), work))
        workers = [asyncio.create_task(self._work(work, results)) for _ in range(concurrency)]
        self._tasks = [producer, *workers]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._cancel_timer is not None:
                self._cancel_timer.cancel()
            await results.put(None)
            sink_error = await writer
            self.builder.close()
        source_error = producer.result() if not producer.cancelled() else None
        if source_error is not None or sink_error is not None:
            raise source_error or sink_error  # type: ignore[misc]
        return self.report()

    async def answer(self, sources: Sequence[str]) -> ItemOutcome:
        """One request with every image of ``sources`` (multi-image prompts)."""
        key = ",".join(sources)
        try:
            outcome = await self._ask(await self.builder.prepared(key, sources))
        except _Stop:
            outcome = ItemOutcome(key, "failed", error=self._stop_reason, error_type="Stopped")
        except GeminiVisionError as exc:
            outcome = failed_outcome(key, exc)
        finally:
            self.builder.close()
        self._count(outcome)
        return outcome

    def report(self) -> EngineReport:
        p = self.progress
        return EngineReport(
            progress=p,
            errors=self.errors,
            retries=self.client.stats.retries - self._retries_before + self._rate_limit_retries,
            rate_limited=self.limiter.stats.rate_limited,
            duration_seconds=p.elapsed,
            cost_usd=self._price.cost(p.input_tokens, p.output_tokens),
            requests=self.client.stats.requests - self._requests_before,
            parse_retries=self._parse_retries,
            uploaded_files=self.builder.uploaded,
            reused_uploads=self.builder.reused_uploads,
        )

    # ---------------------------------------------------------------------------------------
    # stages

    async def _produce(
        self, items: Iterator[WorkItem], work: asyncio.Queue[WorkItem | None]
    ) -> BaseException | None:
        """Feeds the workers; returns the items' exception if reading them failed."""
        chunk_size = 32
        try:
            while self._stop_reason is None:
                chunk = await asyncio.to_thread(take, items, chunk_size)
                for item in chunk:
                    await work.put(item)
                if len(chunk) < chunk_size:
                    break
            for _ in range(max(1, self.settings.concurrency)):
                await work.put(None)
        except asyncio.CancelledError:
            if self._stop_reason is None:
                raise  # cancelled from outside, not by our own stop
        except Exception as exc:  # the sample source failed (e.g. the database went away)
            self._set_stop(f"Reading the items failed ({type(exc).__name__}: {exc})")
            return exc
        return None

    async def _work(
        self, work: asyncio.Queue[WorkItem | None], results: asyncio.Queue[ItemOutcome | None]
    ) -> None:
        try:
            while self._stop_reason is None:
                item = await work.get()
                if item is None:
                    return
                try:
                    outcome = await self._process(item)
                except _Stop:
                    return
                if self._convert is not None and outcome.status == "ok":
                    outcome = await self._converted(outcome)
                self._count(outcome)
                await results.put(outcome)
        except asyncio.CancelledError:
            if self._stop_reason is None:
                raise  # cancelled from outside, not by our own stop

    async def _converted(self, outcome: ItemOutcome) -> ItemOutcome:
        """``outcome`` with its labels built off the event loop, or failed with the reason."""
        assert self._convert is not None
        try:
            outcome.converted = await self.builder.run_in_pool(self._convert, outcome)
        except Exception as exc:  # a label we cannot build is this sample's failure, not the run's
            logger.debug("Building labels for %s failed", outcome.key, exc_info=True)
            outcome.status, outcome.answer = "failed", None
            outcome.error = f"could not build labels from the answer: {type(exc).__name__}: {exc}"
            outcome.error_type = "LabelError"
        return outcome

    async def _write(
        self, results: asyncio.Queue[ItemOutcome | None], sink: Callable[[list[ItemOutcome]], None]
    ) -> BaseException | None:
        """Hands batches to ``sink``; returns the sink's exception, if it raised one."""
        batch: list[ItemOutcome] = []
        last_flush = time.monotonic()
        interval = self.settings.write_interval_seconds
        error: BaseException | None = None
        finished = False
        while not finished:
            timeout = max(0.05, interval - (time.monotonic() - last_flush))
            try:
                outcome = await asyncio.wait_for(results.get(), timeout)
            except asyncio.TimeoutError:
                outcome = ...  # type: ignore[assignment]
            if outcome is None:
                finished = True
            elif outcome is not ...:
                batch.append(outcome)
            due = time.monotonic() - last_flush >= interval
            if batch and (finished or due or len(batch) >= self.settings.write_batch_size):
                if error is None:
                    error = await self._flush(sink, batch)
                batch = []
                last_flush = time.monotonic()
        return error

    async def _flush(
        self, sink: Callable[[list[ItemOutcome]], None], batch: list[ItemOutcome]
    ) -> BaseException | None:
        try:
            await asyncio.to_thread(sink, batch)
        except Exception as exc:  # stop the run; the answers are in the cache
            logger.exception("Writing %d results failed; stopping the run", len(batch))
            self._set_stop(f"Writing results failed ({type(exc).__name__}: {exc})")
            return exc
        if self.on_progress is not None:
            await asyncio.to_thread(self.on_progress, self.progress)
        return None

    # ---------------------------------------------------------------------------------------
    # one item

    async def _process(self, item: WorkItem) -> ItemOutcome:
        try:
            prepared = await self.builder.prepared(item.key, [item.source])
            return await self._ask(prepared)
        except GeminiVisionError as exc:
            return failed_outcome(item.key, exc)

    async def _ask(self, prepared: PreparedRequest) -> ItemOutcome:
        """The outcome of one prepared item: from the cache, or asked (and cached). Items
        with the same content address as one in flight wait for its answer instead of paying
        for it again.

        Raises _Stop when a fatal error stops the run."""
        cache_key = prepared.cache_key
        running = self._in_flight.get(cache_key)
        if running is not None:
            first = await asyncio.shield(running)
            return dataclasses.replace(
                first,
                key=prepared.key,
                cached=first.status == "ok",
                input_tokens=0,
                output_tokens=0,
                warnings=list(first.warnings),
            )
        future: asyncio.Future[ItemOutcome] = asyncio.get_running_loop().create_future()
        self._in_flight[cache_key] = future
        try:
            outcome = await self._ask_once(prepared)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else _Stop())
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(outcome)
        finally:
            del self._in_flight[cache_key]
        return outcome

    async def _ask_once(self, prepared: PreparedRequest) -> ItemOutcome:
        key, info, cache_key = prepared.key, prepared.info, prepared.cache_key
        if self.cache is not None:
            cached = await asyncio.to_thread(self.cache.get, cache_key)
            if cached is not None:
                try:
                    answer = tasks_mod.interpret_answer(self.task, cached.text)
                    return ItemOutcome(key, "ok", answer, info, cached=True, cache_key=cache_key)
                except ParseError:
                    pass  # an older parser accepted it; ask again

        outcome = ItemOutcome(key, "failed", image=info, cache_key=cache_key)
        verdict = Verdict()
        best: Verdict | None = None  # the fullest partial answer so far
        output_cap: int | None = None  # raised after an answer stopped at the output limit
        for attempt in range(1 + self.settings.parse_retries):
            self._parse_retries += attempt > 0
            response = await self._generate(prepared, output_cap)
            usage = response.usage_metadata
            outcome.input_tokens += usage.input_tokens if usage else 0
            outcome.output_tokens += usage.output_tokens if usage else 0
            verdict = read_response(self.task, response)
            if verdict.error is None and not verdict.partial:
                if self.cache is not None and verdict.raw_text:
                    entry = answer_from_response(verdict.raw_text, response)
                    await asyncio.to_thread(self.cache.put, cache_key, entry)
                return _answered(outcome, verdict)
            if verdict.partial and (best is None or verdict.size > best.size):
                best = verdict
            outcome.raw_text = verdict.raw_text or outcome.raw_text
            if not verdict.ask_again:
                break
            if verdict.at_output_limit:
                output_cap = self._more_output(prepared.request, output_cap)
        if best is not None:
            return _answered(outcome, best)  # incomplete, so not cached
        assert verdict.error is not None
        return failed_outcome(key, verdict.error, outcome)

    def _more_output(self, request: wire.GenerateContentRequest, cap: int | None) -> int | None:
        """The output cap for asking again after an answer stopped at the limit: twice the
        last one, up to the model's maximum (None: the request set no cap, nothing to raise)."""
        config = request.generation_config
        current = cap or (config.max_output_tokens if config is not None else None)
        if current is None:
            return None
        return min(2 * current, model_spec(self.settings.model).max_output_tokens)

    async def _generate(
        self, prepared: PreparedRequest, output_cap: int | None = None
    ) -> wire.GenerateContentResponse:
        """Sends ``prepared`` (inline or with uploaded files; with ``output_cap`` as its
        ``maxOutputTokens`` when given) and returns the response; a file the server no longer
        has is uploaded again once. Fatal errors stop the run (raise _Stop)."""
        for refresh in (False, True):
            request = await self.builder.sendable(prepared, refresh=refresh)
            if output_cap is not None and request.generation_config is not None:
                config = request.generation_config.model_copy(
                    update={"max_output_tokens": output_cap}
                )
                request = request.model_copy(update={"generation_config": config})
            try:
                return await self._send(request, prepared.tokens)
            except PermissionDeniedError as exc:
                if "file" not in str(exc).lower():
                    self._fatal(exc)
                if refresh or self.builder.fits_inline(prepared):
                    raise
                await self.builder.forget_uploads(prepared)
        raise AssertionError("unreachable")

    async def _send(
        self, request: wire.GenerateContentRequest, tokens: int
    ) -> wire.GenerateContentResponse:
        """One request, paced. A 429 goes back through the limiter (which heard it, pauses
        everyone for the server's delay and slows down), so a retried request never jumps
        the queue of paced ones; other retries happen inside the client."""
        for attempt in range(self.settings.rate_limit_retries + 1):
            if self._stop_reason is not None:
                raise _Stop
            await self.limiter.acquire(tokens)
            try:
                response = await self.client.generate_content(self.settings.model, request)
            except FATAL_ERRORS as exc:
                self._fatal(exc)
            except RateLimitError:
                if attempt == self.settings.rate_limit_retries:
                    raise
                self._rate_limit_retries += 1
                continue
            self.limiter.on_success()
            return response
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------------------------------
    # bookkeeping

    def _count(self, outcome: ItemOutcome) -> None:
        self.progress.record(
            outcome, self.errors, masks=self.task.kind is tasks_mod.TaskKind.SEGMENT
        )

    def _fatal(self, exc: GeminiVisionError) -> None:
        self.progress.refused = True
        self._set_stop(stop_message(exc))
        raise _Stop from exc

    def _set_stop(self, reason: str) -> None:
        """Stops the run: no new item starts; requests in flight get ``stop_grace_seconds`` to
        finish, then every task still busy (e.g. paced for hours by a per-day 429) is
        cancelled."""
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        self.progress.stopped_reason = reason
        logger.warning("Stopping the run: %s", reason)
        if self._tasks:
            loop = asyncio.get_running_loop()
            self._cancel_timer = loop.call_later(
                self.settings.stop_grace_seconds, self._cancel_tasks
            )

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()


def _answered(outcome: ItemOutcome, verdict: Verdict) -> ItemOutcome:
    outcome.status, outcome.answer = "ok", verdict.answer
    outcome.raw_text, outcome.warnings = verdict.raw_text, list(verdict.warnings)
    outcome.incomplete = verdict.warnings[0] if verdict.partial else None
    return outcome


def take(items: Iterator[T], n: int) -> list[T]:
    """The next ``n`` items of ``items`` (fewer at the end)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= n:
            break
    return chunk


def run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs ``factory()`` to completion from synchronous code.

    Works whether or not the calling thread already runs an event loop (the FiftyOne App's
    server, Jupyter): in that case the coroutine runs on a fresh loop in a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="gemini-vision-engine", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
