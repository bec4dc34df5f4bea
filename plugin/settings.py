"""How to run: :class:`RunSettings`, built once from the user's choices and handed down whole.

Everything that needs a setting reads it from the one :class:`RunSettings` of the run: the
engine (:class:`gemini_vision.engine.Engine`), the request builder, the rate limiter
(``RateLimitSettings.from_run``), the client (``gemini_vision.engine.connect``) and the
FiftyOne side. A new option is one field here and one use where it matters.

Environment settings of the plugin (``GEMINI_VISION_*``) are read with :func:`env_number`: a
value that cannot be read never breaks anything - it falls back to the default and says why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from gemini_vision.api import resolve_api_key
from gemini_vision.catalog import DEFAULT_MODEL, TIERS
from gemini_vision.errors import ConfigurationError
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.images.crops import DEFAULT_MARGIN, DEFAULT_MIN_SIDE

if TYPE_CHECKING:
    from gemini_vision.api import RetryPolicy
    from gemini_vision.engine.batch import BatchSettings
    from gemini_vision.engine.prepared import PreparedImages

__all__ = ["MODES", "EngineTuning", "EnvSetting", "RunSettings", "env_number", "has_api_key"]

#: how requests are sent: concurrently and paced, or as Gemini Batch API jobs
MODES = ("online", "batch")


@dataclass(frozen=True)
class EngineTuning:
    """How the engine moves items. The defaults suit every run; tests and benchmarks change
    them. Sizes in bytes, times in seconds."""

    #: threads preparing images (decoding, resizing) off the event loop
    prepare_workers: int = 2
    #: requests prepared beyond the ``concurrency`` in flight (at most ``concurrency`` more),
    #: each waiting for a free slot: an answer is followed by the next request at once, while
    #: it is read and its labels are built
    prepared_ahead: int = 32
    #: extra requests for an answer that was malformed or truncated before giving up
    parse_retries: int = 1
    #: outcomes written to the dataset at once, and how long a partial batch may wait
    write_batch_size: int = 64
    write_interval_seconds: float = 2.0
    #: requests whose inline images exceed this many bytes upload them with the Files API
    inline_limit_bytes: int = 20 * 1024 * 1024
    #: seconds in-flight requests may still finish once the run is stopping
    stop_grace_seconds: float = 2.0
    #: times one request is sent again after a 429 (each time paced by the rate limiter)
    rate_limit_retries: int = 8
    #: seconds reading one answer (parsing it, building its labels) may take
    answer_seconds: float = 30.0


@dataclass(frozen=True)
class RunSettings:
    """How to run: model, image size, concurrency and quotas, caching.

    Secrets are read from ``api_key`` / ``secrets`` / the environment and are never stored.
    ``vertexai``, ``project``, ``location`` and ``credentials`` choose Vertex AI (see
    :mod:`gemini_vision.api.backend`).
    ``mode``: ``"online"`` (concurrent requests, paced) or ``"batch"`` (Gemini Batch API jobs:
    half the price, results within hours; resumable). ``tier`` (``free``, ``tier1``...) picks
    the published quotas of ``model``; ``requests_per_minute`` / ``tokens_per_minute`` win
    over it. ``max_image_side``: pixels (None or 0: send images at full size). ``timeout``:
    seconds an HTTP read may wait; ``request_deadline``: seconds one attempt may take in all;
    ``max_answer_bytes``: the largest answer read; ``max_retry_wait``: the longest wait a 429
    may ask for before the run stops instead. ``lease_seconds``: how long a worker's
    claim on a sample survives without progress (a stuck or crashed worker's samples go to
    others after that).
    """

    model: str = DEFAULT_MODEL
    max_image_side: int | None = DEFAULT_MAX_SIDE
    overwrite: bool = False
    concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    use_cache: bool = True
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    secrets: Mapping[str, Any] | None = field(default=None, repr=False)
    #: Vertex AI instead of the Developer API (None: GOOGLE_GENAI_USE_VERTEXAI decides), its
    #: project and location (None: GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION) and
    #: google-auth credentials (None: Application Default Credentials)
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None
    credentials: Any = field(default=None, repr=False)
    request_options: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "online"
    tier: str | None = None
    timeout: float | None = None
    #: seconds one attempt of a request may take in all, however slowly its answer arrives
    request_deadline: float = 300.0
    #: answers larger than this many bytes are refused unread (a per-sample reason)
    max_answer_bytes: int = 8 * 1024 * 1024
    #: seconds the run waits when the server asks it to; asked to wait longer, it stops
    #: (finished samples are kept) and says when to come back
    max_retry_wait: float = 300.0
    lease_seconds: float = 120.0
    #: on a patches view: the context kept around each object (a share of its size on each
    #: side) and the least side of a crop, in pixels (see images.crops)
    crop_margin: float = DEFAULT_MARGIN
    crop_min_side: int = DEFAULT_MIN_SIDE
    retry: RetryPolicy | None = field(default=None, repr=False)
    batch: BatchSettings | None = field(default=None, repr=False)
    tuning: EngineTuning = field(default_factory=EngineTuning, repr=False)
    #: images prepared by earlier runs, reused by this one (see engine.prepared)
    prepared_images: PreparedImages | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_image_side == 0:
            object.__setattr__(self, "max_image_side", None)
        if self.mode not in MODES:
            raise ConfigurationError(f"mode must be 'online' or 'batch', got {self.mode!r}")
        if self.tier is not None and _tier_name(self.tier) not in TIERS:
            raise ConfigurationError(f"tier must be one of {', '.join(TIERS)}, got {self.tier!r}")
        _check_number("concurrency", self.concurrency, minimum=1, integer=True)
        _check_number("lease_seconds", self.lease_seconds, minimum=1e-3)
        _check_number("request_deadline", self.request_deadline, minimum=1e-3)
        _check_number("max_answer_bytes", self.max_answer_bytes, minimum=1, integer=True)
        _check_number("max_retry_wait", self.max_retry_wait, minimum=0)
        _check_number("crop_margin", self.crop_margin, minimum=0)
        _check_number("crop_min_side", self.crop_min_side, minimum=1, integer=True)
        for name in ("max_image_side", "requests_per_minute", "tokens_per_minute", "timeout"):
            value = getattr(self, name)
            if value is not None:
                _check_number(name, value, minimum=1e-9, integer=name == "max_image_side")

    def public(self) -> dict[str, Any]:
        """The settings worth recording with a run (no key, no secrets, no internals)."""
        hidden = (
            "api_key",
            "secrets",
            "credentials",
            "base_url",
            "request_options",
            "retry",
            "batch",
            "tuning",
            "prepared_images",
        )
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        data["request_options"] = dict(self.request_options)
        return data


def _tier_name(tier: str) -> str:
    return tier.lower().replace(" ", "").replace("_", "")


def _check_number(name: str, value: Any, *, minimum: float, integer: bool = False) -> None:
    kind = "a whole number" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value < minimum:
        bound = "at least 1" if minimum >= 1 else "greater than 0"
        raise ConfigurationError(f"{name} must be {kind} {bound}, got {value!r}")


@dataclass(frozen=True)
class EnvSetting:
    """A number read from the environment: its value, and what was wrong with the text there
    (None when it was fine or unset)."""

    name: str
    value: float
    problem: str | None = None


def env_number(name: str, default: float, *, minimum: float = 0.0) -> EnvSetting:
    """``os.environ[name]`` as a finite number of at least ``minimum``; anything else gives
    ``default`` and a sentence saying what was wrong (for forms to show)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return EnvSetting(name, default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        problem = (
            f"{name}={text!r} is not a number of at least {minimum:g}; "
            f"using the default, {default:g}"
        )
        return EnvSetting(name, default, problem)
    return EnvSetting(name, value)


def has_api_key(secrets: Mapping[str, Any] | None = None) -> bool:
    """Whether a Gemini API key is configured (in ``secrets`` or the environment)."""
    return resolve_api_key(None, secrets) is not None
