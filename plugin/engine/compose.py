"""From a run's settings to a working engine: the one place where the parts are put together.

:func:`open_engine` builds, from one :class:`~gemini_vision.settings.RunSettings`, the rate
limiter (the tier's or the given quotas), the client (key and base URL from the settings, a
secret store or the environment; one kept-alive connection per request in flight) and the
:class:`~gemini_vision.engine.Engine` with its request builder. :func:`open_batch` does the same
for Batch API runs. Callers supply what must outlive the run - the response cache, the upload
registry, the batch journal - as they see fit (memory, or the FiftyOne database).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from gemini_vision import tasks as tasks_mod
from gemini_vision.api import AiohttpTransport, AsyncGeminiClient, GeminiClient, RetryPolicy
from gemini_vision.api.config import uses_vertex
from gemini_vision.engine.batch import BatchJournal, BatchRunner
from gemini_vision.engine.cache import ResponseCache
from gemini_vision.engine.outcomes import Progress
from gemini_vision.engine.pipeline import Engine
from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings
from gemini_vision.engine.uploads import UploadRegistry
from gemini_vision.errors import ConfigurationError
from gemini_vision.settings import RunSettings

__all__ = ["VERTEX_BATCH_REFUSED", "check_access", "connect", "open_batch", "open_engine"]

VERTEX_BATCH_REFUSED = (
    "mode='batch' uses the Gemini Developer API's Batch API, which Vertex AI does not offer "
    "(its batch prediction works through Cloud Storage or BigQuery): run with mode='online' "
    "on Vertex AI, or unset GOOGLE_GENAI_USE_VERTEXAI to use the Developer API"
)


def _backend(settings: RunSettings) -> dict[str, Any]:
    """The client options that say which Gemini a run reaches, and as whom."""
    return {
        "base_url": settings.base_url,
        "secrets": settings.secrets,
        "vertexai": settings.vertexai,
        "project": settings.project,
        "location": settings.location,
        "credentials": settings.credentials,
    }


def connect(settings: RunSettings, limiter: RateLimiter | None = None) -> AsyncGeminiClient:
    """The async client of a run. With a ``limiter``, 429s are left to it (the engine sends
    them back through the limiter, which slows everyone down); other failures are retried
    inside the client by ``settings.retry``."""
    retry = settings.retry or RetryPolicy()
    options: dict[str, Any] = {"timeout": settings.timeout} if settings.timeout else {}
    if limiter is not None:
        retry = dataclasses.replace(retry, retry_statuses=retry.retry_statuses - {429})
        options["on_rate_limited"] = limiter.on_rate_limited
    return AsyncGeminiClient(
        settings.api_key,
        **_backend(settings),
        retry=retry,
        max_response_bytes=settings.max_answer_bytes,
        deadline=settings.request_deadline,
        # a kept-alive connection per request in flight, through aiohttp's compiled parser
        transport=AiohttpTransport(),
        **options,
    )


def check_access(settings: RunSettings, *, timeout: float = 20.0) -> str:
    """What a run under ``settings`` can know is wrong before it pays for anything, refused
    now; returns the backend's name (``Gemini Developer API``, ``Vertex AI (project ...)``).

    On Vertex AI: ``mode="batch"`` (ConfigurationError), and one free countTokens call that
    makes the credentials, the project and the model's location answer for themselves
    (AuthenticationError, PermissionDeniedError, NotFoundError, each saying what to change).
    """
    if not uses_vertex(settings.vertexai, settings.secrets):
        return "Gemini Developer API"
    if settings.mode == "batch":
        raise ConfigurationError(VERTEX_BATCH_REFUSED)
    with GeminiClient(
        settings.api_key,
        **_backend(settings),
        timeout=timeout,
        retry=RetryPolicy(max_attempts=2),
    ) as client:
        client.check_access(settings.model)
        return client.config.backend_name


def open_engine(
    task: tasks_mod.TaskSpec,
    settings: RunSettings,
    *,
    cache: ResponseCache | None = None,
    uploads: UploadRegistry | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Engine:
    """An engine for ``task`` under ``settings``; use its client in ``async with
    engine.client:`` around :meth:`Engine.run` or :meth:`Engine.answer`."""
    limiter = RateLimiter(RateLimitSettings.from_run(settings))
    return Engine(
        connect(settings, limiter),
        task,
        settings,
        cache=cache,
        limiter=limiter,
        on_progress=on_progress,
        uploads=uploads,
    )


def open_batch(
    engine: Engine,
    *,
    journal: BatchJournal,
    group: str,
    cache: ResponseCache | None = None,
) -> BatchRunner:
    """A Batch API runner sharing ``engine``'s client, settings, uploads and progress hook.

    Vertex AI's batch prediction reads and writes Cloud Storage or BigQuery instead, and is
    not offered: ``mode="batch"`` there raises ConfigurationError before anything is sent."""
    if engine.client.config.vertex is not None:
        raise ConfigurationError(VERTEX_BATCH_REFUSED)
    return BatchRunner(
        engine.client,
        engine.task,
        engine.settings,
        journal=journal,
        group=group,
        cache=cache,
        uploads=engine.builder.uploads,
        on_progress=engine.on_progress,
    )
