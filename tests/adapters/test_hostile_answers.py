"""Hostile answers, through the operators: whatever a server sends, each sample ends in time
with labels that make sense or a one-line reason, the run goes on (only a server asking to
wait a day stops it, saying when to come back), and memory stays bounded.

The suite runs in a process of its own (``tests/support/hostile.py``) so that its peak memory
is the suite's alone; each case has an emulator process answering every request with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from support import SUPPORT

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

pytest.importorskip("fiftyone")

#: seconds any one case may take (the slowest, one byte a second, meets the 3 s deadline of
#: each of its 5 attempts)
CASE_SECONDS = 60
#: the suite's peak memory growth, at most (MB)
PEAK_GROWTH_MB = 300
TOO_LARGE = "larger than 8.38861 MB (the client's max_response_bytes)"
#: case -> what every sample's reason says (None: the sample is labelled)
REASONS: dict[str, str | None] = {
    "huge_body": TOO_LARGE,
    "huge_after_valid": TOO_LARGE,
    "huge_caption": TOO_LARGE,
    "endless_body": TOO_LARGE,
    "slow_drip": "no complete answer within the 3 s deadline",
    "cut_stream": "peer closed connection without sending complete message body",
    "not_utf8": "response is not JSON",
    "html_200": "response is not JSON",
    "empty_200": "response is not JSON",
    "json_not_object": "unexpected GenerateContentResponse",
    "nested_envelope": "response is not JSON",
    "nested_text": "ParseError",
    "backtracking_text": "ParseError",
    "dash_table": "ParseError",
    "many_objects": None,
    "wild_coordinates": None,
    "long_labels": None,
    "mask_bomb": None,
    "mask_gigapixels": None,
    "too_large_labels": "would take more than 128 MB of memory",  # 60 x 12 MB of masks
    "retry_tomorrow": None,
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("hostile")
    command = [sys.executable, str(SUPPORT / "hostile.py"), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))  # the figures, for whoever reads the log
    return report


def test_every_case_is_served_and_ends_in_time(suite: dict[str, Any]) -> None:
    assert set(suite["cases"]) == set(REASONS)
    slow = {
        case: r["seconds"] for case, r in suite["cases"].items() if r["seconds"] > CASE_SECONDS
    }
    assert slow == {}


def test_memory_stays_bounded_over_the_whole_suite(suite: dict[str, Any]) -> None:
    assert suite["peak_growth_mb"] < PEAK_GROWTH_MB, suite["peak_growth_mb"]


@pytest.mark.parametrize("case", [c for c, reason in REASONS.items() if reason])
def test_each_sample_fails_alone_with_a_clear_reason(case: str, suite: dict[str, Any]) -> None:
    result = suite["cases"][case]
    assert result["error"] is None  # the run itself went on
    reasons = [sample["reason"] for sample in result["samples"]]
    assert reasons and all(REASONS[case] in (reason or "") for reason in reasons), reasons
    assert all("\n" not in reason and len(reason) <= 1000 for reason in reasons)
    assert all("objects" not in sample for sample in result["samples"])  # nothing half-written


def test_too_many_objects_are_cut_to_max_objects(suite: dict[str, Any]) -> None:
    samples = suite["cases"]["many_objects"]["samples"]
    assert [s["objects"] for s in samples] == [100] * 3


@pytest.mark.parametrize("case", ["wild_coordinates", "long_labels"])
def test_wild_values_leave_sane_labels(case: str, suite: dict[str, Any]) -> None:
    for sample in suite["cases"][case]["samples"]:
        assert sample["reason"] is None and sample["objects"] >= 1
        assert sample["boxes_sane"] and sample["longest_label"] <= 100, sample
        assert sample["longest_raw_label"] <= 500, sample  # what the model said, cut


@pytest.mark.parametrize("case", ["mask_bomb", "mask_gigapixels"])
def test_mask_bombs_keep_their_box_and_say_the_mask_was_refused(
    case: str, suite: dict[str, Any]
) -> None:
    for sample in suite["cases"][case]["samples"]:
        assert sample["reason"] is None and sample["objects"] == sample["mask_errors"] == 1


def test_a_server_asking_to_wait_a_day_stops_the_run_saying_when_to_come_back(
    suite: dict[str, Any],
) -> None:
    result = suite["cases"]["retry_tomorrow"]
    assert "Gemini asked to wait 24 hours" in result["error"]
    assert "run again after" in result["error"] and "UTC" in result["error"]
    assert all(sample == {"reason": None} for sample in result["samples"])  # nothing written
