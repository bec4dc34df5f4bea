"""The engine: many work items through image preparation, Gemini and parsing, concurrently.

::

    compose     RunSettings -> rate limiter, client, request builder, Engine (one place)
    pipeline    Engine: moves many items - producer, bounded queues, workers, batched writes,
                stopping cleanly
    asker       one request's policy: cache, coalescing, pacing, 429s, asking again, judging
    requests    what one item sends: prepared images, the request, its content address,
                inline or uploaded
    verdicts    how one response is judged: an answer, a refusal, or worth asking again
    outcomes    what the engine hands back: items, outcomes, progress, the run's report
    ratelimit   pacing by requests and tokens per minute, adaptive to 429s
    cache       content-addressed answers, so nothing is paid for twice
    uploads     Files API uploads reused until they expire
    batch       Gemini Batch API jobs for big runs (half the price, resumable)
    batch_jobs  a batch job's record, journal and request file
    prepared    prepared images kept for the runs that follow (a comparison's variants)
    sync        running the engine from synchronous code

Nothing here imports FiftyOne: the adapters supply the items, the sink and durable stores.
"""

from gemini_vision.engine.asker import FATAL_ERRORS
from gemini_vision.engine.batch import BatchRunner, BatchSettings
from gemini_vision.engine.batch_jobs import BatchJournal, BatchRecord, MemoryJournal
from gemini_vision.engine.cache import (
    CachedAnswer,
    MemoryCache,
    ResponseCache,
    answer_from_response,
    request_cache_key,
)
from gemini_vision.engine.compose import check_access, connect, open_batch, open_engine
from gemini_vision.engine.outcomes import (
    EngineReport,
    ItemOutcome,
    Progress,
    WorkItem,
    failed_outcome,
    one_line,
    stop_message,
)
from gemini_vision.engine.pipeline import Engine
from gemini_vision.engine.prepared import PreparedImages
from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings
from gemini_vision.engine.requests import ImageInfo, PreparedRequest, RequestBuilder
from gemini_vision.engine.sync import run_coroutine_sync
from gemini_vision.engine.uploads import MemoryUploads, UploadRecord, UploadRegistry
from gemini_vision.engine.verdicts import Verdict, read_response

__all__ = [
    "FATAL_ERRORS",
    "BatchJournal",
    "BatchRecord",
    "BatchRunner",
    "BatchSettings",
    "CachedAnswer",
    "Engine",
    "EngineReport",
    "ImageInfo",
    "ItemOutcome",
    "MemoryCache",
    "MemoryJournal",
    "MemoryUploads",
    "PreparedImages",
    "PreparedRequest",
    "Progress",
    "RateLimitSettings",
    "RateLimiter",
    "RequestBuilder",
    "ResponseCache",
    "UploadRecord",
    "UploadRegistry",
    "Verdict",
    "WorkItem",
    "answer_from_response",
    "check_access",
    "connect",
    "failed_outcome",
    "one_line",
    "open_batch",
    "open_engine",
    "read_response",
    "request_cache_key",
    "run_coroutine_sync",
    "stop_message",
]
