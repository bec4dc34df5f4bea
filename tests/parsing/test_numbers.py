"""parsing.numbers: finite numbers and confidences in every form a model writes them."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_vision.parsing import parse_classification, parse_detections
from gemini_vision.parsing.numbers import CONFIDENCE_WORDS, finite_number, parse_confidence

HUGE = 10**400  # an int JSON can hold and a float cannot


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(250, 250.0, id="int"),
        pytest.param(0.5, 0.5, id="float"),
        pytest.param("250", 250.0, id="numeric string"),
        pytest.param(" 1e3\n", 1000.0, id="padded exponent string"),
        pytest.param("\x1c7\x1f", 7.0, id="ascii separators stripped"),
        pytest.param(True, None, id="bool is no number"),
        pytest.param(None, None, id="none"),
        pytest.param([1], None, id="list"),
        pytest.param("abc", None, id="words"),
        pytest.param("", None, id="empty string"),
        pytest.param(float("nan"), None, id="nan"),
        pytest.param(float("inf"), None, id="inf"),
        pytest.param("-Infinity", None, id="infinite string"),
        pytest.param(HUGE, None, id="int beyond float range"),
    ],
)
def test_finite_number(value: Any, expected: float | None) -> None:
    assert finite_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected", "notes"),
    [
        pytest.param(0.9, 0.9, [], id="fraction"),
        pytest.param(1, 1, [], id="one is a fraction"),
        pytest.param(0, 0, [], id="zero"),
        pytest.param("0.9", 0.9, [], id="numeric string"),
        pytest.param(87, 0.87, ["confidence on 0-100 rescaled to 0-1"], id="0-100 scale"),
        pytest.param("90%", 0.9, [], id="percent"),
        pytest.param(" 45 % ", 0.45, [], id="spaces around %"),
        pytest.param(
            "150%", 0.015, ["confidence on 0-100 rescaled to 0-1"], id="percent over 100"
        ),
        pytest.param("-5%", None, ["unreadable confidence ignored"], id="negative percent"),
        pytest.param("abc%", None, [], id="unreadable percent"),
        pytest.param("High", 0.9, ["confidence given as a word, mapped to a number"], id="word"),
        pytest.param(" very high ", 0.95, ["confidence given as a word, mapped to a number"]),
        pytest.param(101, None, ["unreadable confidence ignored"], id="above 100"),
        pytest.param(-0.1, None, ["unreadable confidence ignored"], id="negative"),
        pytest.param(True, None, ["unreadable confidence ignored"], id="bool"),
        pytest.param(None, None, ["unreadable confidence ignored"], id="null"),
        pytest.param(HUGE, None, ["unreadable confidence ignored"], id="huge int"),
    ],
)
def test_parse_confidence_reads_every_form_and_says_what_it_repaired(
    value: Any, expected: float | None, notes: list[str]
) -> None:
    told: list[str] = []
    assert parse_confidence(value, note=told.append) == pytest.approx(expected)
    assert told == notes


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.9, 0.9), (87, 0.87), ("0.9", 0.9), ("90%", None), ("high", None), (101, None)],
)
def test_numbers_only_reads_numbers_and_nothing_else(value: Any, expected: float | None) -> None:
    assert parse_confidence(value, numbers_only=True) == pytest.approx(expected)


def test_every_confidence_word_is_a_fraction() -> None:
    assert all(0 <= v <= 1 for v in CONFIDENCE_WORDS.values())
    assert [parse_confidence(word) for word in CONFIDENCE_WORDS] == list(CONFIDENCE_WORDS.values())


def test_a_confidence_word_on_a_box_becomes_a_number_and_a_warning() -> None:
    result = parse_detections('[{"box_2d": [1, 2, 3, 4], "label": "cat", "confidence": "low"}]')
    assert result.objects[0].confidence == 0.3
    assert "confidence given as a word, mapped to a number (1×)" in result.warnings


def test_a_class_score_too_large_for_a_float_is_no_score_not_a_crash() -> None:
    text = '{"cat": 1' + "0" * 400 + ', "dog": 0.5}'
    result = parse_classification(text, ["cat", "dog"], multi_label=True)
    assert set(result.labels) == {"cat", "dog"}
