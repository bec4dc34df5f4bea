"""Why a run stopped is said in words that tell the user what to do."""

from __future__ import annotations

import pytest

from gemini_vision.engine.outcomes import stop_message
from gemini_vision.errors import AuthenticationError, QuotaExhaustedError


def quota(quota_id: str, value: str = "250") -> QuotaExhaustedError:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaId": quota_id, "quotaValue": value}],
        }
    ]
    return QuotaExhaustedError(
        "quota", status_code=429, status="RESOURCE_EXHAUSTED", details=details
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), "midnight Pacific"),
        (quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "0"), "no quota for"),
        (QuotaExhaustedError("credit", status_code=402), "Prepaid credit used up"),
        (
            AuthenticationError(
                "User location is not supported", status_code=400, status="FAILED_PRECONDITION"
            ),
            "enable billing",
        ),
        (AuthenticationError("API key not valid", status_code=400), "fix the key"),
    ],
    ids=["per-day", "zero-quota", "prepaid-credit", "location", "bad-key"],
)
def test_stop_messages_name_the_cause_and_the_remedy(error: Exception, expected: str) -> None:
    message = stop_message(error)  # type: ignore[arg-type]
    assert expected in message
    assert str(error.status_code) in message  # type: ignore[attr-defined]
