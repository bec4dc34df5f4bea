"""The models a user can pick: the live ``models.list`` when reachable, else a fixed list.

Forms call this on every change, so answers are cached for a few minutes, and an unreachable
API (offline, no key) falls back at once to :data:`~.catalog.FALLBACK_MODELS`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from gemini_vision.api.client import GeminiClient
from gemini_vision.api.config import resolve_api_key, resolve_base_url, uses_vertex
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.catalog import DEFAULT_MODEL, FALLBACK_MODELS
from gemini_vision.errors import GeminiVisionError

__all__ = ["list_models"]

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
#: model families that cannot take an image and answer in text
_EXCLUDED = ("embedding", "-tts", "native-audio", "live", "image-generation", "-image", "aqa")
_cache: dict[str, tuple[float, list[str]]] = {}
_lock = threading.Lock()


def _order(model: str) -> tuple[int, str]:
    if model == DEFAULT_MODEL:
        return (0, model)
    if model in FALLBACK_MODELS:
        return (1 + FALLBACK_MODELS.index(model), model)
    return (100, model)


def _usable(model: Any) -> bool:
    model_id = model.model_id
    methods = model.supported_generation_methods
    return (
        model_id.startswith("gemini")
        and (not methods or "generateContent" in methods)
        and not any(word in model_id for word in _EXCLUDED)
    )


def list_models(
    *,
    api_key: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    base_url: str | None = None,
    timeout: float = 3.0,
) -> list[str]:
    """Gemini models able to look at images, default first; never raises. (Vertex AI lists
    its publisher models differently: the fixed list there.)"""
    key = resolve_api_key(api_key, secrets)
    if key is None or uses_vertex(None, secrets):
        return list(FALLBACK_MODELS)
    try:
        url = resolve_base_url(base_url, secrets)
    except GeminiVisionError as exc:  # the forms say what is wrong with it
        logger.info("Using the built-in model list: %s", exc)
        return list(FALLBACK_MODELS)
    cache_key = hashlib.sha256(f"{url}|{key}".encode()).hexdigest()
    with _lock:
        hit = _cache.get(cache_key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return list(hit[1])
    try:
        with GeminiClient(key, base_url=url, timeout=timeout, retry=RetryPolicy.never()) as client:
            models = sorted({m.model_id for m in client.list_models() if _usable(m)}, key=_order)
    except GeminiVisionError as exc:
        logger.info("Using the built-in model list: %s", exc.reason)
        models = []
    models = models or list(FALLBACK_MODELS)
    with _lock:
        _cache[cache_key] = (time.monotonic(), models)
    return list(models)
