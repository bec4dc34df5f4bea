"""Which Gemini an operator call reaches - the Developer API or Vertex AI - and whether it can.

:func:`check_backend` refuses, before anything is sent, what the configuration alone says is
wrong: no API key or an unusable base URL (Developer API); on Vertex AI a missing project or
credentials, ``mode="batch"``, and - through one free countTokens call - refused
credentials, a project the account may not use, or a model its location does not serve.
Forms call it on every change, so Vertex AI's answer is remembered for a few minutes per
configuration (a failure only briefly, so a fix shows at once).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.api import resolve_base_url
from gemini_vision.api.backend import (
    LOCATION_NAME,
    PROJECT_NAME,
    VERTEX_BASE_URL_NAME,
)
from gemini_vision.api.config import USE_VERTEX_NAME, lookup, uses_vertex
from gemini_vision.api.credentials import CREDENTIALS_NAME
from gemini_vision.catalog import DEFAULT_MODEL
from gemini_vision.errors import APIStatusError, ConfigurationError
from gemini_vision.settings import RunSettings, has_api_key

from .params import Params

__all__ = ["DEVELOPER_API", "MISSING_KEY", "check_backend"]

DEVELOPER_API = "Gemini Developer API"
MISSING_KEY = (
    "No Gemini API key found: set GEMINI_API_KEY in the environment of the FiftyOne App and of "
    "`fiftyone delegated launch` (or as a FiftyOne secret); for offline use, point "
    "GOOGLE_GEMINI_BASE_URL at the local emulator (python -m gemini_vision.emulator); or, for "
    "Vertex AI, set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT"
)
#: seconds Vertex AI's verdict on one configuration is remembered: a pass, and a refusal
PASS_SECONDS = 300.0
REFUSAL_SECONDS = 5.0
#: what a Vertex AI configuration is made of (the digest of their values keys the verdicts)
_VERTEX_SETTINGS = (
    USE_VERTEX_NAME,
    PROJECT_NAME,
    LOCATION_NAME,
    CREDENTIALS_NAME,
    VERTEX_BASE_URL_NAME,
    "GOOGLE_API_KEY",
)
_verdicts: dict[str, tuple[float, str | Exception]] = {}
_lock = threading.Lock()


def check_backend(ctx: ExecutionContext, params: Params, *, fresh: bool = False) -> str:
    """The name of the backend a run would use (``Gemini Developer API``, ``Vertex AI
    (project p, location l) with service account ...``); what is wrong with it is refused in
    ``params``. ``fresh``: ask Vertex AI again, whatever it said a moment ago (a run about to
    start: a key revoked since the form was shown is refused here, in one sentence)."""
    if not uses_vertex(None, ctx.secrets):
        if not has_api_key(ctx.secrets):
            params.refuse("api_key", MISSING_KEY)
        try:
            resolve_base_url(None, ctx.secrets)
        except ConfigurationError as exc:
            params.refuse("base_url", f"{exc} (set in GOOGLE_GEMINI_BASE_URL)")
        return DEVELOPER_API
    model = params.text("model") or DEFAULT_MODEL
    mode = params.text("mode") or "online"
    verdict = _vertex_verdict(ctx.secrets, model, mode, fresh)
    if isinstance(verdict, str):
        return verdict
    if mode == "batch" and isinstance(verdict, ConfigurationError):
        params.refuse("mode", str(verdict))
    else:
        message = verdict.message if isinstance(verdict, APIStatusError) else str(verdict)
        params.refuse("backend", message)
    return "Vertex AI"


def _vertex_verdict(secrets: Any, model: str, mode: str, fresh: bool) -> str | Exception:
    values = [lookup((name,), secrets) or "" for name in _VERTEX_SETTINGS]
    key = hashlib.sha256("\0".join([*values, model, mode]).encode()).hexdigest()
    now = time.monotonic()
    with _lock:
        found = _verdicts.get(key)
    if found is not None and not fresh:
        at, verdict = found
        if now - at < (PASS_SECONDS if isinstance(verdict, str) else REFUSAL_SECONDS):
            return verdict
    try:
        settings = RunSettings(secrets=secrets, model=model, mode=mode)
        verdict = adapters.check_access(settings)
    except (ConfigurationError, APIStatusError) as exc:
        verdict = exc
    with _lock:
        _verdicts[key] = (now, verdict)
    return verdict
