"""Fault injection: quotas with sliding windows, seeded fault plans, and text mangling.

Determinism: every generateContent request gets its own ``random.Random``, seeded with the
config seed and a key. The key is the request's arrival number (``faults_per_image=False``) or
the sha256 of its images plus how many times those images were sent before
(``faults_per_image=True``) - the latter gives the same faults to the same image on its n-th
attempt however requests interleave, so concurrent runs are reproducible.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gemini_vision.emulator.config import (
    CONTENT_FAULTS,
    TRANSPORT_FAULTS,
    EmulatorConfig,
    quota_limit_for,
)
from gemini_vision.emulator.server.rpc import ApiError

__all__ = [
    "FaultInjector",
    "FaultPlan",
    "QuotaExceeded",
    "QuotaTracker",
    "fence",
    "malform",
    "quota_error",
    "wrap_in_prose",
]

_PACIFIC = ZoneInfo("America/Los_Angeles")

# (quotaMetric, quotaId) per tier and dimension, as they appear in real 429 bodies
_QUOTA_NAMES = {
    ("free", "rpm"): (
        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    ),
    ("free", "rpd"): (
        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ),
    ("free", "tpm"): (
        "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    ),
    ("paid", "rpm"): (
        "generativelanguage.googleapis.com/generate_content_requests",
        "GenerateRequestsPerMinutePerProjectPerModel",
    ),
    ("paid", "rpd"): (
        "generativelanguage.googleapis.com/generate_content_requests",
        "GenerateRequestsPerDayPerProjectPerModel",
    ),
    ("paid", "tpm"): (
        "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
        "GenerateContentPaidTierInputTokensPerModelPerMinute",
    ),
}


class QuotaExceeded(ApiError):
    """A 429 for one quota ``dimension``: "rpm", "tpm" or "rpd"."""

    dimension: str = "rpm"


def quota_error(
    config: EmulatorConfig, dimension: str, model: str, limit: int, delay: float
) -> QuotaExceeded:
    """The real 429 body for exceeding ``dimension`` ("rpm", "tpm" or "rpd")."""
    tier = "paid" if config.tier == "paid" else "free"
    metric, quota_id = _QUOTA_NAMES[(tier, dimension)]
    error = QuotaExceeded.quota(
        metric=metric, quota_id=quota_id, model=model, limit=limit, retry_delay=delay
    )
    error.dimension = dimension
    return error


def seconds_until_pacific_midnight(now: float) -> float:
    """Daily quotas reset at midnight Pacific time."""
    local = datetime.fromtimestamp(now, _PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(midnight.timestamp() - now, 1.0)


class QuotaTracker:
    """Per-model RPM/TPM sliding windows and a per-day request counter (Pacific days)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: dict[str, deque[tuple[float, int]]] = {}
        self._days: dict[str, tuple[str, int]] = {}

    def reset(self) -> None:
        with self._lock:
            self._window.clear()
            self._days.clear()

    def admit(self, config: EmulatorConfig, model: str, tokens: int) -> None:
        """Records one request of ``tokens`` prompt tokens, or raises its 429."""
        rpm = quota_limit_for(config.rpm, model)
        tpm = quota_limit_for(config.tpm, model)
        rpd = quota_limit_for(config.rpd, model)
        if rpm is None and tpm is None and rpd is None:
            return
        window = config.quota_window
        with self._lock:
            now = time.monotonic()
            entries = self._window.setdefault(model, deque())
            while entries and entries[0][0] <= now - window:
                entries.popleft()
            if rpm is not None and len(entries) >= rpm:
                index = len(entries) - rpm
                delay = entries[index][0] + window - now if entries else window
                raise quota_error(config, "rpm", model, rpm, delay)
            if tpm is not None:
                self._check_tokens(config, model, entries, tokens, tpm, now)
            if rpd is not None:
                day = datetime.now(_PACIFIC).date().isoformat()
                day_of_count, count = self._days.get(model, (day, 0))
                count = count if day_of_count == day else 0
                if count >= rpd:
                    delay = seconds_until_pacific_midnight(time.time())
                    raise quota_error(config, "rpd", model, rpd, delay)
                self._days[model] = (day, count + 1)
            entries.append((now, tokens))

    @staticmethod
    def _check_tokens(
        config: EmulatorConfig,
        model: str,
        entries: deque[tuple[float, int]],
        tokens: int,
        limit: int,
        now: float,
    ) -> None:
        used = sum(t for _, t in entries)
        if used + tokens <= limit:
            return
        delay = config.quota_window
        for stamp, spent in entries:
            used -= spent
            if used + tokens <= limit:
                delay = stamp + config.quota_window - now
                break
        raise quota_error(config, "tpm", model, limit, max(delay, 0.001))


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one generateContent request."""

    #: "429", "500", "503", "504", "timeout" or None
    transport: str | None
    #: "malformed", "fenced", "prose", "safety", "safety_finish", "max_tokens" or None
    content: str | None
    #: seconds to wait before answering
    latency: float
    #: retryDelay of an injected 429
    retry_delay: float
    #: the request's own generator, for any further choice (where to cut the text...)
    rng: random.Random


def _pick(names: tuple[str, ...], rates: tuple[float, ...], draw: float) -> str | None:
    edge = 0.0
    for name, rate in zip(names, rates, strict=True):
        edge += max(rate, 0.0)
        if draw < edge:
            return name
    return None


class FaultInjector:
    """Hands out seeded :class:`FaultPlan` s, per request or per image."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._calls_per_key: Counter[str] = Counter()

    def reset(self) -> None:
        """Starts the request and per-image sequences again."""
        with self._lock:
            self._requests = 0
            self._calls_per_key.clear()

    def plan(self, config: EmulatorConfig, image_hashes: list[str], content_key: str) -> FaultPlan:
        """The plan of the next request; ``content_key`` identifies image-less requests."""
        with self._lock:
            if config.faults_per_image:
                key = "|".join(sorted(image_hashes)) or content_key
                attempt = self._calls_per_key[key]
                self._calls_per_key[key] += 1
                seed = f"{config.seed}:image:{key}:{attempt}"
            else:
                seed = f"{config.seed}:request:{self._requests}"
            self._requests += 1
        rng = random.Random(seed)
        # Always draw the same number of values in the same order, so changing one rate
        # does not reshuffle the other faults of a seeded run.
        latency_draw, transport_draw, content_draw, delay_draw = (rng.random() for _ in range(4))
        latency = max(0.0, config.latency + (2 * latency_draw - 1) * config.latency_jitter)
        return FaultPlan(
            transport=_pick(TRANSPORT_FAULTS, config.transport_rates(), transport_draw),
            content=_pick(CONTENT_FAULTS, config.content_rates(), content_draw),
            latency=latency,
            retry_delay=config.fault_429_retry_delay * (0.5 + delay_draw),
            rng=rng,
        )


# --------------------------------------------------------------------------------------------
# Text faults, in the styles real Gemini answers show (tests/data/real-gemini/responses.jsonl)

_PROSE_LEADS = {
    "detect": ("Here are the bounding box detections:\n", "Here are the detected objects:\n\n"),
    "segment": ("Here are the segmentation masks:\n", "Here is the JSON list of masks:\n\n"),
    "point": ("Here are the points:\n", "Based on the image, here are the locations:\n\n"),
}
_DEFAULT_LEADS = ("Here is the result:\n", "Sure! Here is the JSON output:\n\n")
_PROSE_TAILS = (
    "",
    "\nLet me know if you would like me to refine any of these.\n",
    "\nThe coordinates are given as [ymin, xmin, ymax, xmax], normalized to 0-1000.\n",
)


def fence(text: str) -> str:
    """The answer inside a ```json fence, as 2.x models often send it despite instructions."""
    if text.lstrip().startswith("```"):
        return text
    return f"```json\n{text}\n```"


def wrap_in_prose(text: str, kind: str, rng: random.Random) -> str:
    """A fenced answer with a sentence before it and sometimes one after it."""
    lead = rng.choice(_PROSE_LEADS.get(kind, _DEFAULT_LEADS))
    return lead + fence(text) + rng.choice(_PROSE_TAILS)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def malform(text: str, rng: random.Random) -> str:
    """``text`` damaged so that a JSON answer no longer parses.

    One of: cut off mid-way, cut inside a string (unterminated string), or a comma between
    items dropped (garbled). Non-JSON text is simply cut off mid-way.
    """
    if len(text) < 2:
        return "["
    strategy = rng.choice(("truncate", "unterminated", "garbled"))
    candidate = text
    if strategy == "unterminated":
        quotes = [i for i, c in enumerate(text) if c == '"']
        if quotes:
            start = quotes[rng.randrange(0, len(quotes), 2) if len(quotes) > 1 else 0]
            candidate = text[: start + 1 + rng.randint(0, 3)]
    elif strategy == "garbled":
        commas = [i for i, c in enumerate(text) if c == "," and i > 0 and text[i - 1] in "}]"]
        if commas:
            cut = rng.choice(commas)
            candidate = text[:cut] + text[cut + 1 :]
    if candidate == text or _is_json(candidate):
        cut = rng.randint(max(1, len(text) // 3), max(1, len(text) - 2))
        candidate = text[:cut]
        while candidate and _is_json(candidate):
            candidate = candidate[:-1]
    return candidate or text[:1]
