"""Error responses and transport failures -> the exception tree, and the server's retry delay."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx
import pytest
from support.fakes import KEY, Script, error_body, make_client, quota_details

from gemini_vision import errors
from gemini_vision.api.retry import RetryPolicy
from gemini_vision.api.status import error_from_response, parse_retry_delay

API_KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
]
SERVICE_DISABLED = [
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}
]


def respond(status: int, body: Any = None, **kwargs: Any) -> httpx.Response:
    request = httpx.Request("POST", "https://gemini.test/v1beta/models/m:generateContent")
    if body is None or isinstance(body, str | bytes):
        return httpx.Response(status, content=body or b"", request=request, **kwargs)
    return httpx.Response(status, json=body, request=request, **kwargs)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(400, error_body(400, "bad field", "INVALID_ARGUMENT"),
                     errors.BadRequestError, id="400"),
        pytest.param(400, error_body(400, "API key not valid.", "INVALID_ARGUMENT",
                                     API_KEY_INVALID),
                     errors.AuthenticationError, id="400-api-key-invalid"),
        pytest.param(401, error_body(401, "unauthenticated", "UNAUTHENTICATED"),
                     errors.AuthenticationError, id="401"),
        pytest.param(403, error_body(403, "You do not have permission to access the File x",
                                     "PERMISSION_DENIED"),
                     errors.PermissionDeniedError, id="403-file"),
        pytest.param(403, error_body(403, "API disabled", "PERMISSION_DENIED", SERVICE_DISABLED),
                     errors.AuthenticationError, id="403-service-disabled"),
        pytest.param(404, error_body(404, "models/x is not found", "NOT_FOUND"),
                     errors.NotFoundError, id="404"),
        pytest.param(429, error_body(429, "quota", "RESOURCE_EXHAUSTED", quota_details(
                     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "26s")),
                     errors.RateLimitError, id="429-per-minute"),
        pytest.param(429, error_body(429, "quota", "RESOURCE_EXHAUSTED", quota_details(
                     "GenerateRequestsPerDayPerProjectPerModel-FreeTier")),
                     errors.QuotaExhaustedError, id="429-per-day"),
        pytest.param(429, error_body(429, "quota", "RESOURCE_EXHAUSTED"),
                     errors.RateLimitError, id="429-no-details"),
        pytest.param(402, error_body(402, "credit", "RESOURCE_EXHAUSTED"),
                     errors.QuotaExhaustedError, id="402-prepaid-credit"),
        pytest.param(500, error_body(500, "internal", "INTERNAL"), errors.ServerError, id="500"),
        pytest.param(502, "<html>Bad Gateway</html>", errors.ServerError, id="502-html"),
        pytest.param(503, error_body(503, "The model is overloaded.", "UNAVAILABLE"),
                     errors.ServerError, id="503"),
        pytest.param(504, error_body(504, "deadline", "DEADLINE_EXCEEDED"),
                     errors.ServerError, id="504"),
        pytest.param(409, error_body(409, "conflict", "ABORTED"), errors.APIStatusError,
                     id="409-generic"),
    ],
)  # fmt: skip
def test_status_maps_to_error_class(status: int, body: Any, expected: type[Exception]) -> None:
    error = error_from_response(respond(status, body))
    assert type(error) is expected
    assert error.status_code == status


def test_error_keeps_message_status_and_details() -> None:
    details = quota_details("GenerateContentInputTokensPerModelPerMinute-FreeTier", "26s")
    error = error_from_response(
        respond(429, error_body(429, "Slow down", "RESOURCE_EXHAUSTED", details))
    )
    assert isinstance(error, errors.RateLimitError)
    assert error.message == "Slow down"
    assert error.status == "RESOURCE_EXHAUSTED"
    assert error.details == details
    assert error.quota_ids == ["GenerateContentInputTokensPerModelPerMinute-FreeTier"]
    assert str(error) == "429 RESOURCE_EXHAUSTED: Slow down"
    assert error.retryable


def test_list_wrapped_error_maps_like_the_plain_one() -> None:
    body = error_body(400, "API key not valid.", "INVALID_ARGUMENT", API_KEY_INVALID)
    plain = error_from_response(respond(400, body))
    wrapped = error_from_response(respond(400, [body]))
    assert type(wrapped) is type(plain) is errors.AuthenticationError
    assert (wrapped.message, wrapped.status, wrapped.details) == (
        plain.message,
        plain.status,
        plain.details,
    )


def test_non_json_body_becomes_the_message_trimmed() -> None:
    error = error_from_response(respond(503, "upstream connect error " + "x" * 1000))
    assert isinstance(error, errors.ServerError)
    assert error.message.startswith("upstream connect error")
    assert len(error.message) < 400
    assert error.status is None
    assert error.details == []


def test_empty_body_falls_back_to_the_reason_phrase() -> None:
    assert error_from_response(respond(500)).message == "Internal Server Error"


def test_json_without_error_object_uses_the_text() -> None:
    error = error_from_response(respond(400, {"unexpected": True}))
    assert isinstance(error, errors.BadRequestError)
    assert "unexpected" in error.message


def test_server_text_is_redacted() -> None:
    body = error_body(400, f"API key not valid: {KEY}", "INVALID_ARGUMENT", API_KEY_INVALID)
    body["error"]["details"].append({"@type": "x.Debug", "echo": f"key={KEY}"})
    error = error_from_response(respond(400, body), secrets=(KEY,))
    assert KEY not in str(error)
    assert KEY not in repr(error.details)
    assert "[REDACTED]" in error.message


# -- retry delays -----------------------------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("details", "message", "headers", "expected"),
    [
        pytest.param(quota_details("q", "26s"), "", {}, 26.0, id="retryinfo-seconds"),
        pytest.param(quota_details("q", "53.016342224s"), "", {}, 53.016342224,
                     id="retryinfo-fraction"),
        pytest.param([{"@type": "google.rpc.RetryInfo",
                       "retryDelay": {"seconds": 3, "nanos": 5e8}}],
                     "", {}, 3.5, id="retryinfo-object"),
        pytest.param(quota_details("q", "7s"), "Please retry in 53.01s.", {"retry-after": "99"},
                     7.0, id="retryinfo-wins"),
        pytest.param([], "Quota exceeded. Please retry in 53.016342224s.", {"retry-after": "99"},
                     53.016342224, id="message-text"),
        pytest.param([], "please retry in 250ms", {}, 0.25, id="message-ms"),
        pytest.param([], "", {"retry-after": "12"}, 12.0, id="retry-after-seconds"),
        pytest.param([], "", {"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0,
                     id="retry-after-date"),
        pytest.param([], "", {"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0,
                     id="retry-after-past-date"),
        pytest.param([], "", {"retry-after": "soon"}, None, id="retry-after-garbage"),
        pytest.param(quota_details("q"), "no hint here", {}, None, id="nothing"),
    ],
)  # fmt: skip
def test_parse_retry_delay(
    details: list[dict[str, Any]], message: str, headers: dict[str, str], expected: float | None
) -> None:
    delay = parse_retry_delay(details, message, httpx.Headers(headers), now=NOW)
    assert delay == pytest.approx(expected) if expected is not None else delay is None


def test_retry_after_is_stored_on_the_error() -> None:
    response = respond(503, error_body(503, "busy", "UNAVAILABLE"), headers={"Retry-After": "4"})
    assert error_from_response(response).retry_after == 4.0


# -- transport failures, through the client ---------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("read timed out"), errors.APITimeoutError),
        (httpx.ConnectTimeout("connect timed out"), errors.APITimeoutError),
        (httpx.ConnectError("connection refused"), errors.APIConnectionError),
        (httpx.ReadError("connection reset"), errors.APIConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), errors.APIConnectionError),
    ],
)
def test_transport_errors_map_to_transport_error_classes(
    raised: Exception, expected: type[Exception]
) -> None:
    client = make_client(Script([raised]), retry=RetryPolicy.never())
    with pytest.raises(expected) as info:
        client.get_model("gemini-2.5-flash")
    assert isinstance(info.value, errors.TransportError)
    assert info.value.retryable
    assert "GET https://gemini.test/v1beta/models/gemini-2.5-flash" in str(info.value)
    assert info.value.__cause__ is raised  # kept as is: nothing to redact


def test_error_statuses_raise_through_the_client() -> None:
    body = error_body(404, "models/nope is not found for API version v1beta", "NOT_FOUND")
    client = make_client(Script([httpx.Response(404, json=body)]))
    with pytest.raises(errors.NotFoundError, match="models/nope is not found"):
        client.get_model("nope")
    assert client.stats.by_status == {404: 1}


def _zero_quota(quota_id: str) -> list[dict[str, Any]]:
    details = quota_details(quota_id, "43s")
    details[0]["violations"][0]["quotaValue"] = "0"
    return details


# The free tier of some models (e.g. 2.5 Pro) has a quota of 0: every request is a 429 with
# "limit: 0" and a retry delay, and no amount of waiting helps.
ZERO_LIMIT_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details.\n"
    "* Quota exceeded for metric: generativelanguage.googleapis.com/"
    "generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\n"
    "Please retry in 43.7s."
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(error_body(429, "quota", "RESOURCE_EXHAUSTED", _zero_quota(
                     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier")),
                     errors.QuotaExhaustedError, id="quota-value-0"),
        pytest.param(error_body(429, ZERO_LIMIT_MESSAGE, "RESOURCE_EXHAUSTED"),
                     errors.QuotaExhaustedError, id="limit-0-in-message"),
        pytest.param(error_body(429, "quota", "RESOURCE_EXHAUSTED", quota_details(
                     "GenerateRequestsPerDayPerProjectPerModel")),
                     errors.QuotaExhaustedError, id="paid-tier-per-day"),
        pytest.param(error_body(429, "quota", "RESOURCE_EXHAUSTED", quota_details(
                     "GenerateContentPaidTierInputTokensPerModelPerMinute", "9s")),
                     errors.RateLimitError, id="paid-tier-per-minute"),
        pytest.param(error_body(429, "Resource has been exhausted (e.g. check quota).",
                                "RESOURCE_EXHAUSTED"),
                     errors.RateLimitError, id="limit-10-is-not-0"),
    ],
)  # fmt: skip
def test_quota_that_waiting_cannot_fix_is_not_retried(
    body: dict[str, Any], expected: type[Exception]
) -> None:
    error = error_from_response(respond(429, body))
    assert type(error) is expected
    assert RetryPolicy().is_retryable(error) is (expected is errors.RateLimitError)


@pytest.mark.parametrize(
    "message",
    [
        "User location is not supported for the API use.",
        "Gemini API free tier is not available in your country. Please enable billing on your "
        "project in Google AI Studio.",
    ],
)
def test_account_level_failed_precondition_stops_like_a_refused_key(message: str) -> None:
    # Every request of the run would fail the same way: the error must be fatal, not per item.
    error = error_from_response(respond(400, error_body(400, message, "FAILED_PRECONDITION")))
    assert isinstance(error, errors.AuthenticationError)
    assert message in str(error)


def test_failed_precondition_about_a_file_stays_a_bad_request() -> None:
    body = error_body(
        400,
        "The File 4d21d8wxg1pe is not in an ACTIVE state and usage is not allowed.",
        "FAILED_PRECONDITION",
    )
    assert type(error_from_response(respond(400, body))) is errors.BadRequestError


def test_redirect_is_not_followed_and_says_where_it_pointed() -> None:
    # Following it would send the x-goog-api-key header to whatever host it names.
    response = respond(
        302, "", headers={"Location": "https://elsewhere.example/v1beta/x?upload_id=secret"}
    )
    error = error_from_response(response)
    assert "https://elsewhere.example/v1beta/x" in str(error)
    assert "upload_id" not in str(error)
    assert "base URL" in str(error)
