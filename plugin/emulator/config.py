"""The emulator's knobs (:class:`EmulatorConfig`) and the model table it serves.

Every knob may be changed while the server runs (``emu.config.latency = 0.2``): the handlers
read the config afresh on every request. Times are seconds; rates are probabilities in [0, 1]
per generateContent request. All random choices are drawn from generators seeded with
``seed``, so a run is reproducible given the seed and the order of requests (or, with
``faults_per_image``, given each image's own sequence of calls, whatever the interleaving).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gemini_vision.catalog import FALLBACK_MODELS

__all__ = ["DEFAULT_MODELS", "EmulatorConfig", "QuotaLimit", "quota_limit_for"]

#: a quota: one limit for every model, a limit per model id (others unlimited), or None
QuotaLimit = int | Mapping[str, int] | None

#: models served by ``models.list`` / accepted by generateContent (ids without ``models/``)
DEFAULT_MODELS: tuple[str, ...] = (
    *FALLBACK_MODELS,
    "gemini-2.0-flash-lite",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
    "gemini-robotics-er-1.6-preview",
)

#: content faults, in the order their probabilities are stacked on one draw
CONTENT_FAULTS = ("malformed", "fenced", "prose", "safety", "safety_finish", "max_tokens")
#: transport faults, in the order their probabilities are stacked on one draw
TRANSPORT_FAULTS = ("429", "500", "503", "504", "timeout")


def quota_limit_for(limit: QuotaLimit, model: str) -> int | None:
    """The limit that applies to ``model`` (None = unlimited)."""
    if limit is None or isinstance(limit, int):
        return limit
    return limit.get(model)


@dataclass
class EmulatorConfig:
    """Knobs of the emulator. Defaults give a fast, fault-free, always-available server."""

    #: seeds every random choice (faults, latency jitter, ids, thinking tokens, answers)
    seed: int = 0

    # --- latency (generateContent and streamGenerateContent only) -----------------------
    #: seconds added before answering; a sleep that holds no lock
    latency: float = 0.0
    #: latency is drawn uniformly from [latency - jitter, latency + jitter], floored at 0
    latency_jitter: float = 0.0
    #: pause between streamed SSE chunks
    stream_chunk_delay: float = 0.0

    # --- quotas (per model, sliding windows) -> 429 RESOURCE_EXHAUSTED -----------------
    #: requests per minute
    rpm: QuotaLimit = None
    #: input (prompt) tokens per minute
    tpm: QuotaLimit = None
    #: requests per day; the 429 asks to wait until midnight Pacific, like the real API
    rpd: QuotaLimit = None
    #: length of the "minute" window (tests shrink it)
    quota_window: float = 60.0
    #: "free" or "paid": selects the quotaId/quotaMetric names of the 429 body
    tier: str = "free"

    # --- injected transport faults (probabilities, stacked on one draw) ----------------
    fault_rate_429: float = 0.0
    fault_rate_500: float = 0.0
    fault_rate_503: float = 0.0
    fault_rate_504: float = 0.0
    timeout_rate: float = 0.0
    #: retryDelay of an injected 429, drawn uniformly in [0.5, 1.5] times this
    fault_429_retry_delay: float = 1.0
    #: "hang": hold the connection ``timeout_hold`` s, then close it without answering;
    #: "close": close it at once without answering
    timeout_mode: str = "hang"
    timeout_hold: float = 30.0

    # --- injected content faults (HTTP 200; probabilities, stacked on one draw) ---------
    #: model text cut or garbled so it is not valid JSON any more
    malformed_rate: float = 0.0
    #: the answer wrapped in a ```json fence
    fenced_rate: float = 0.0
    #: the answer fenced, with prose before and after it
    prose_rate: float = 0.0
    #: prompt blocked: HTTP 200 with only promptFeedback.blockReason SAFETY (+ usage)
    safety_rate: float = 0.0
    #: answer blocked: a candidate with finishReason SAFETY and no text
    safety_finish_rate: float = 0.0
    #: answer cut short with finishReason MAX_TOKENS
    max_tokens_rate: float = 0.0
    #: sha256 hex digests of images whose prompts are always blocked (SAFETY)
    blocked_images: set[str] = field(default_factory=set)
    #: draw faults per image (keyed by the images' sha256 and how often they were sent)
    #: instead of per request in arrival order: reproducible under any concurrency
    faults_per_image: bool = False

    # --- hostile answers (see server/hostile.py) --------------------------------------
    #: every generateContent answer is this hostile case instead (None: real answers)
    hostile: str | None = None
    #: seconds between the bytes of the "slow_drip" case
    hostile_drip_seconds: float = 5.0

    # --- answers ----------------------------------------------------------------------
    #: replies remembered per (request, model, seed): a repeated request skips the vision
    #: work (answers are deterministic, so this changes nothing but speed; 0 = off)
    reply_cache_size: int = 1024

    # --- thinking ----------------------------------------------------------------------
    #: multiplies the emulated thinking tokens (0 = never think)
    thinking_scale: float = 1.0

    # --- auth ---------------------------------------------------------------------------
    #: keys answered with 400 API_KEY_INVALID
    rejected_api_keys: set[str] = field(default_factory=set)
    #: when set, only these keys are accepted (others get API_KEY_INVALID)
    accepted_api_keys: set[str] | None = None

    # --- Vertex AI and Google Cloud (see server/vertex.py, oauth.py, storage.py) -------
    #: service-account e-mail -> public key (PEM) whose signed JWTs the token endpoint accepts
    service_accounts: dict[str, str] = field(default_factory=dict)
    #: refresh tokens of users' gcloud credentials that are accepted (None: any)
    refresh_tokens: set[str] | None = None
    #: service-account e-mails and refresh tokens refused as revoked (400 invalid_grant)
    revoked_credentials: set[str] = field(default_factory=set)
    #: seconds an issued access token lives (real: 3600)
    token_lifetime: float = 3600.0
    #: projects the credentials may use (None: any); others get 403 PERMISSION_DENIED
    vertex_projects: set[str] | None = None
    #: location -> models served there (None: every location serves every model)
    vertex_models_by_location: Mapping[str, tuple[str, ...]] | None = None
    #: Cloud Storage bucket name -> local folder holding its objects
    gcs_buckets: dict[str, str] = field(default_factory=dict)

    # --- models, limits -----------------------------------------------------------------
    models: tuple[str, ...] = DEFAULT_MODELS
    #: largest accepted request body, bytes (100 MB since 2026-01; 20 MB legacy)
    max_request_bytes: int = 100 * 1024 * 1024

    # --- Files API ----------------------------------------------------------------------
    #: seconds a new file stays PROCESSING before it turns ACTIVE (0 = ACTIVE at once)
    file_processing_delay: float = 0.0
    #: seconds until a file expires (real: 48 h)
    file_ttl: float = 48 * 3600.0

    # --- Batch API ----------------------------------------------------------------------
    #: seconds a new batch stays PENDING
    batch_pending_time: float = 0.2
    #: minimum seconds a batch stays RUNNING (its requests are answered meanwhile)
    batch_running_time: float = 0.3
    #: a batch not finished this many seconds after creation becomes EXPIRED (real: 48 h)
    batch_expiry: float = 48 * 3600.0

    def transport_rates(self) -> tuple[float, ...]:
        return (
            self.fault_rate_429,
            self.fault_rate_500,
            self.fault_rate_503,
            self.fault_rate_504,
            self.timeout_rate,
        )

    def content_rates(self) -> tuple[float, ...]:
        return (
            self.malformed_rate,
            self.fenced_rate,
            self.prose_rate,
            self.safety_rate,
            self.safety_finish_rate,
            self.max_tokens_rate,
        )
