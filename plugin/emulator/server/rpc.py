"""Error bodies exactly as the Gemini API sends them: ``{"error": google.rpc.Status}``.

Handlers raise :class:`ApiError`; the server turns it into the HTTP status and JSON body.
Statuses follow Google's "Troubleshooting guide" for the Gemini API (its table of error codes);
messages are the real service's texts where they are known (bad JSON, unknown fields, bad keys,
quotas, missing or inactive files).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

__all__ = ["GRPC_CODES", "ApiError"]

E = TypeVar("E", bound="ApiError")

#: canonical gRPC codes, used in statuses nested inside batch results (not HTTP codes)
GRPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}

_RATE_LIMIT_DOC = "https://ai.google.dev/gemini-api/docs/rate-limits"
_TROUBLESHOOTING = "https://developers.generativeai.google/guide/troubleshooting"


class ApiError(Exception):
    """An error response: HTTP ``code``, canonical ``status``, ``message`` and ``details``."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {code, message, status, details?}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def batch_status(self) -> dict[str, Any]:
        """The same error as a ``google.rpc.Status`` inside a batch result (gRPC code)."""
        return {"code": GRPC_CODES.get(self.status, 2), "message": self.message}

    # --- 400 ----------------------------------------------------------------------------

    @classmethod
    def invalid_argument(cls, message: str) -> ApiError:
        return cls(400, "INVALID_ARGUMENT", message)

    @classmethod
    def bullets(cls, *lines: str) -> ApiError:
        """Semantic validation failures, one ``* path: reason`` bullet per line."""
        return cls.invalid_argument("".join(f"* {line}\n" for line in lines))

    @classmethod
    def invalid_payload(cls, description: str, field: str | None) -> ApiError:
        """A body that does not match the schema (unknown field, wrong type)."""
        violation: dict[str, Any] = {"description": description}
        if field:
            violation = {"field": field, "description": description}
        return cls(
            400,
            "INVALID_ARGUMENT",
            description,
            [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [violation],
                }
            ],
        )

    @classmethod
    def unknown_field(cls, name: str, path: str) -> ApiError:
        at = f" at '{path}'" if path else ""
        text = f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
        return cls.invalid_payload(text, path or None)

    @classmethod
    def api_key_invalid(cls) -> ApiError:
        message = "API key not valid. Please pass a valid API key."
        return cls(
            400,
            "INVALID_ARGUMENT",
            message,
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ],
        )

    @classmethod
    def file_not_active(cls, file_id: str) -> ApiError:
        return cls(
            400,
            "FAILED_PRECONDITION",
            f"The File {file_id} is not in an ACTIVE state and usage is not allowed",
        )

    # --- 401 / 403 / 404 ----------------------------------------------------------------

    @classmethod
    def unregistered_caller(cls) -> ApiError:
        return cls(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )

    @classmethod
    def unauthenticated(cls) -> ApiError:
        return cls(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token,"
            " login cookie or other valid authentication credential. See"
            " https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )

    @classmethod
    def file_permission(cls, file_id: str) -> ApiError:
        return cls(
            403,
            "PERMISSION_DENIED",
            f"You do not have permission to access the File {file_id} or it may not exist.",
        )

    @classmethod
    def model_not_found(cls, model: str, version: str, method: str) -> ApiError:
        return cls(
            404,
            "NOT_FOUND",
            f"models/{model} is not found for API version {version}, or is not supported for"
            f" {method}. Call ListModels to see the list of available models and their"
            " supported methods.",
        )

    @classmethod
    def not_found(cls, message: str = "Requested entity was not found.") -> ApiError:
        return cls(404, "NOT_FOUND", message)

    # --- 429 ----------------------------------------------------------------------------

    @classmethod
    def quota(
        cls: type[E],
        *,
        metric: str,
        quota_id: str,
        model: str,
        limit: int,
        retry_delay: float,
    ) -> E:
        """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo, as the API sends it.

        ``retryDelay`` is whole seconds like the real API's (``"53s"``), except below one
        second, where the fraction is kept so the delay never reads as ``"0s"``.
        """
        delay_text = f"{math.floor(retry_delay)}s" if retry_delay >= 1 else f"{retry_delay:.3f}s"
        message = (
            "You exceeded your current quota, please check your plan and billing details. For"
            f" more information on this error, head to: {_RATE_LIMIT_DOC}. To monitor your"
            " current usage, head to: https://ai.dev/usage?tab=rate-limit. \n"
            f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}\n"
            f"Please retry in {retry_delay:.2f}s."
        )
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": str(limit),
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {"description": "Learn more about Gemini API quotas", "url": _RATE_LIMIT_DOC}
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay_text},
        ]
        return cls(429, "RESOURCE_EXHAUSTED", message, details)

    # --- 5xx ----------------------------------------------------------------------------

    @classmethod
    def internal(cls) -> ApiError:
        return cls(
            500,
            "INTERNAL",
            f"An internal error has occurred. Please retry or report in {_TROUBLESHOOTING}",
        )

    @classmethod
    def unavailable(cls) -> ApiError:
        return cls(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")

    @classmethod
    def deadline_exceeded(cls) -> ApiError:
        return cls(
            504,
            "DEADLINE_EXCEEDED",
            "The request timed out. Please try again with a shorter prompt or a longer"
            " client timeout.",
        )
