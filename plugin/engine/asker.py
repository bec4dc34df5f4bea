"""One request's policy: how a prepared item becomes an outcome.

::

    prepared item ──► the same request in flight? wait for its answer (paid once)
                  ──► cache hit? (content address) ──► outcome
                  ──► rate limiter ──► client (5xx and timeouts retried inside the client)
                        429 ──► back through the limiter, which heard it (at most N times)
                        403 on an uploaded file ──► upload again, once
                        key refused / model unknown / quota gone ──► the run stops
                  ──► judge the answer ──► malformed or cut off? ask again once (with twice
                      the output room when the model stopped at the limit) ──► cache

:class:`Asker` knows nothing of queues or workers: :class:`~gemini_vision.engine.Engine` moves
many items through it; ``Engine.answer`` asks one multi-image question with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from gemini_vision import tasks as tasks_mod
from gemini_vision.api import AsyncGeminiClient, wire
from gemini_vision.catalog import model_spec
from gemini_vision.engine.cache import ResponseCache, answer_from_response
from gemini_vision.engine.outcomes import ItemOutcome, failed_outcome, one_line, stop_message
from gemini_vision.engine.ratelimit import RateLimiter
from gemini_vision.engine.requests import PreparedRequest, RequestBuilder
from gemini_vision.engine.verdicts import Verdict, interpret, read_response
from gemini_vision.errors import (
    AnswerTooSlowError,
    AuthenticationError,
    GeminiVisionError,
    InvalidResponseError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
)
from gemini_vision.settings import RunSettings

__all__ = ["FATAL_ERRORS", "Asker", "RunStop", "Stop"]

logger = logging.getLogger(__name__)

#: errors that are not the item's fault and would fail every other item the same way
FATAL_ERRORS: tuple[type[GeminiVisionError], ...] = (
    QuotaExhaustedError,
    AuthenticationError,
    NotFoundError,
)


class Stop(Exception):
    """Raised inside a request when the run must stop for a reason that is not the item's."""


@dataclass
class RunStop:
    """Whether the run is stopping, why, and whether every request would be refused."""

    reason: str | None = None
    #: the stop came from an error every request would hit (key, model, quota)
    refused: bool = False
    #: set from any thread by the run's caller to stop it (seen at once, before any request)
    cancel: threading.Event | None = None

    def check(self) -> None:
        """Raises :class:`Stop` once the run is stopping."""
        if self.reason is not None or (self.cancel is not None and self.cancel.is_set()):
            raise Stop


class Asker:
    """Turns one prepared request into an outcome, under the run's settings (see module doc)."""

    def __init__(
        self,
        client: AsyncGeminiClient,
        task: tasks_mod.TaskSpec,
        settings: RunSettings,
        builder: RequestBuilder,
        limiter: RateLimiter,
        *,
        cache: ResponseCache | None,
        stop: RunStop,
        on_stop: Callable[[str], None],
        until_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.task = task
        self.settings = settings
        self.builder = builder
        self.limiter = limiter
        self.cache = cache
        self.stop = stop
        #: called with the reason when a fatal error stops the run
        self._on_stop = on_stop
        #: awaited in a request's slot just before it is sent: waits while its answer could
        #: not be stored (raises :class:`Stop` if the run stops meanwhile)
        self._until_ready = until_ready
        self.parse_retries = 0
        self.rate_limit_retries = 0
        self._in_flight: dict[str, asyncio.Future[ItemOutcome]] = {}
        #: the requests on the wire (or waiting for their turn at the limiter) at once
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))

    async def ask(self, prepared: PreparedRequest) -> ItemOutcome:
        """The outcome of ``prepared``: from the cache, or asked (and cached). Items with the
        same content address as one in flight wait for its answer instead of paying again.

        Raises :class:`Stop` when the run stops."""
        running = self._in_flight.get(prepared.cache_key)
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
        self._in_flight[prepared.cache_key] = future
        try:
            outcome = await self._ask_once(prepared)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else Stop())
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(outcome)
        finally:
            del self._in_flight[prepared.cache_key]
        return outcome

    async def _from_cache(self, prepared: PreparedRequest) -> ItemOutcome | None:
        if self.cache is None:
            return None
        cached = await asyncio.to_thread(self.cache.get, prepared.cache_key)
        if cached is None:
            return None
        try:
            answer, warnings = await self._off_loop(interpret, self.task, cached.text)
        except (ParseError, AnswerTooSlowError):
            return None  # an older parser accepted it; ask again
        return ItemOutcome(
            prepared.key,
            "ok",
            answer,
            prepared.info,
            cached=True,
            cache_key=prepared.cache_key,
            warnings=warnings,
        )

    async def _off_loop(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in the builder's thread pool, so one slow answer never holds up
        the requests in flight; past ``tuning.answer_seconds`` it is given up (the thread
        finishes on its own) and :class:`AnswerTooSlowError` is raised."""
        seconds = self.settings.tuning.answer_seconds
        try:
            return await asyncio.wait_for(self.builder.run_in_pool(function, *args), seconds)
        except asyncio.TimeoutError:
            raise AnswerTooSlowError(
                f"reading the answer took longer than {seconds:g} s; given up"
            ) from None

    async def _judge(self, response: wire.GenerateContentResponse) -> Verdict:
        """The verdict on ``response``, read off the event loop; whatever reading it does
        (a bug, a pathological answer) becomes this item's failure, never the run's."""
        try:
            return await self._off_loop(read_response, self.task, response)
        except AnswerTooSlowError as exc:
            return Verdict(error=exc)
        except Exception as exc:
            logger.debug("Reading an answer failed", exc_info=True)
            error = InvalidResponseError(
                f"the answer could not be read ({type(exc).__name__}: {one_line(str(exc), 300)})"
            )
            return Verdict(error=error)

    async def _ask_once(self, prepared: PreparedRequest) -> ItemOutcome:
        cached = await self._from_cache(prepared)
        if cached is not None:
            return cached
        outcome = ItemOutcome(
            prepared.key, "failed", image=prepared.info, cache_key=prepared.cache_key
        )
        verdict = Verdict()
        best: Verdict | None = None  # the fullest partial answer so far
        output_cap: int | None = None  # raised after an answer stopped at the output limit
        for attempt in range(1 + self.settings.tuning.parse_retries):
            self.parse_retries += attempt > 0
            response = await self._generate(prepared, output_cap)
            usage = response.usage_metadata
            outcome.input_tokens += usage.input_tokens if usage else 0
            outcome.output_tokens += usage.output_tokens if usage else 0
            verdict = await self._judge(response)
            if verdict.error is None and not verdict.partial:
                await self._remember(prepared, verdict, response)
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
        return failed_outcome(prepared.key, verdict.error, outcome)

    async def _remember(
        self, prepared: PreparedRequest, verdict: Verdict, response: wire.GenerateContentResponse
    ) -> None:
        if self.cache is not None and verdict.raw_text:
            entry = answer_from_response(verdict.raw_text, response)
            await asyncio.to_thread(self.cache.put, prepared.cache_key, entry)

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
        has is uploaded again once. Fatal errors stop the run (raise :class:`Stop`)."""
        for refresh in (False, True):
            request = _with_output_cap(
                await self.builder.sendable(prepared, refresh=refresh), output_cap
            )
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
        """One request, paced, in one of the run's ``concurrency`` slots. A 429 goes back
        through the limiter (which heard it, pauses everyone for the server's delay and slows
        down), so a retried request never jumps the queue of paced ones; other retries happen
        inside the client."""
        retries = self.settings.tuning.rate_limit_retries
        async with self._slots:  # freed with the answer, before it is read
            for attempt in range(retries + 1):
                if self._until_ready is not None:
                    await self._until_ready()
                self.stop.check()
                await self.limiter.acquire(tokens)
                self.stop.check()  # the run may have stopped while this request waited its turn
                try:
                    response = await self.client.generate_content(self.settings.model, request)
                except FATAL_ERRORS as exc:
                    self._fatal(exc)
                except RateLimitError as exc:
                    if (exc.retry_after or 0.0) > self.settings.max_retry_wait:
                        self._fatal(exc, stop_message(exc, self.settings.max_retry_wait))
                    if attempt == retries:
                        raise
                    self.rate_limit_retries += 1
                    continue
                self.limiter.on_success()
                return response
        raise AssertionError("unreachable")

    def _fatal(self, exc: GeminiVisionError, message: str | None = None) -> NoReturn:
        self.stop.refused = True
        self._on_stop(message or stop_message(exc))
        raise Stop from exc


def _with_output_cap(
    request: wire.GenerateContentRequest, output_cap: int | None
) -> wire.GenerateContentRequest:
    if output_cap is None or request.generation_config is None:
        return request
    config = request.generation_config.model_copy(update={"max_output_tokens": output_cap})
    return request.model_copy(update={"generation_config": config})


def _answered(outcome: ItemOutcome, verdict: Verdict) -> ItemOutcome:
    outcome.status, outcome.answer = "ok", verdict.answer
    outcome.raw_text, outcome.warnings = verdict.raw_text, list(verdict.warnings)
    outcome.incomplete = verdict.warnings[0] if verdict.partial else None
    return outcome
