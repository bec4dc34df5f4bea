"""Whether a run can reach its model at all, asked before anything is paid for.

On Vertex AI most of what can go wrong is knowable for free: ``countTokens`` is not billed,
yet it goes through the same checks as ``generateContent`` - the credentials (a token is
issued, or refused), the project (permission, API enabled) and the model's availability in
the location. :func:`check_access` sends one tiny countTokens request and turns those
refusals into messages that say what to change. Failures that say nothing about the
configuration (a busy server, a dropped connection) are left for the run's own retries.
"""

from __future__ import annotations

import logging

from gemini_vision.api import wire
from gemini_vision.api.credentials import REFRESH_REFUSED
from gemini_vision.api.effects import Op
from gemini_vision.api.operations import Operations
from gemini_vision.errors import (
    APIStatusError,
    AuthenticationError,
    GeminiVisionError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = ["check_access"]

logger = logging.getLogger(__name__)

_PROBE = wire.GenerateContentRequest(
    contents=[wire.Content(role="user", parts=[wire.Part(text="ping")])]
)


def check_access(ops: Operations, model: str) -> Op[None]:
    """Raises AuthenticationError, PermissionDeniedError or NotFoundError (with what to
    change) when Vertex AI refuses this configuration; does nothing on the Developer API,
    whose key is checked by the run's first request."""
    vertex = ops.config.vertex
    if vertex is None:
        return
    try:
        yield from ops.count_tokens(model, _PROBE)
    except (AuthenticationError, PermissionDeniedError, NotFoundError) as exc:
        raise _explained(exc, ops, model) from None
    except GeminiVisionError as exc:  # not about the configuration: the run will retry
        logger.info("Vertex AI access check inconclusive: %s", exc.reason)


def _explained(exc: APIStatusError, ops: Operations, model: str) -> APIStatusError:
    vertex = ops.config.vertex
    assert vertex is not None
    tokens = ops.config.tokens
    who = tokens.describe() if tokens is not None else "the express-mode API key"
    if isinstance(exc, AuthenticationError) and exc.status_code == 401 and tokens is None:
        hint = "Vertex AI refused the express-mode API key in GOOGLE_API_KEY"
    elif isinstance(exc, AuthenticationError):
        hint = f"Vertex AI refused the credentials ({who})"
    elif isinstance(exc, PermissionDeniedError):
        hint = (
            f"Vertex AI refused project {vertex.project!r} to {who}: check "
            "GOOGLE_CLOUD_PROJECT, that the Vertex AI API is enabled in that project, and that "
            "the account has the Vertex AI User role (roles/aiplatform.user)"
        )
    else:
        hint = (
            f"Model {model!r} is not available in location {vertex.location!r} of Vertex AI: "
            "choose another model, or set GOOGLE_CLOUD_LOCATION to a location that serves it "
            "(e.g. global or us-central1)"
        )
    if exc.message.startswith(REFRESH_REFUSED):  # explained where the refresh failed
        return exc
    return type(exc)(
        f"{hint}. The service said: {exc.message}",
        status_code=exc.status_code,
        status=exc.status,
        details=exc.details,
    )
