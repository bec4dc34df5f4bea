"""Every parser entry point, thrown hostile text: nesting, repetition and long runs of the
characters each pattern looks for, up to the longest answer the parsers read. Each call ends
in time with a result or a ParseError - never a hang, never another exception."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemini_vision.errors import ParseError
from gemini_vision.parsing import (
    MAX_ANSWER_CHARS,
    MAX_TEXT_ANSWER_CHARS,
    LabelMapper,
    clean_label,
    extract_json,
    parse_classification,
    parse_detections,
    parse_free_text,
    parse_points,
)

CLASSES = ["cat", "dog", "traffic light"]
ENTRY_POINTS: dict[str, Callable[[str], Any]] = {
    "detections": parse_detections,
    "points": parse_points,
    "classification": lambda t: parse_classification(t, CLASSES, multi_label=False),
    "multi_label": lambda t: parse_classification(t, CLASSES, multi_label=True),
    "open_vocabulary": lambda t: parse_classification(t, None, multi_label=True),
    "free_text": parse_free_text,
    "json": extract_json,
    "label": clean_label,
    "label_map": LabelMapper(CLASSES).map,
}
#: what the patterns look for: brackets, quotes, fences, table rules, verdicts, emphasis...
UNITS = [
    "[", "]", "{", "}", '"', "'", "`", "```", "~~~", "-", "|", "|---", "| a | b |", ":", "**",
    "__", "*", "#", "/*", "//", "<", ">", "1", "1, ", "0.5", "-1e308", "NaN", " ", "\t", "\n",
    "yes", "no", "none", "None of these", "Verdict: no", "cat", "cat: yes", "not ", "and ",
    "of the ", "box_2d", '"box_2d": [', '"label": "', '"mask": "data:image/png;base64,',
    "iVBORw0KGgo", "\\u00", "\\", "\ud800", "é", "🐱",
]  # fmt: skip
#: seconds one call may take on a generated text (they are at most 20,000 characters)
SMALL_LIMIT = 2.0
#: seconds one call may take on the longest text its parser reads
LARGE_LIMIT = 10.0
#: entry point -> the longest text it reads
LONGEST = {
    name: MAX_TEXT_ANSWER_CHARS
    if name in ("classification", "multi_label", "open_vocabulary", "free_text")
    else MAX_ANSWER_CHARS
    for name in ENTRY_POINTS
}


def call(name: str, text: str, limit: float) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ParseError):
        ENTRY_POINTS[name](text)
    seconds = time.perf_counter() - started
    assert seconds < limit, f"{name} took {seconds:.2f} s on {len(text):,} characters"


texts = st.lists(
    st.tuples(st.sampled_from(UNITS), st.integers(1, 2000)), min_size=1, max_size=8
).map(lambda runs: "".join(unit * count for unit, count in runs)[:20_000])


@settings(max_examples=60, deadline=None)
@given(text=texts)
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_generated_hostile_text_ends_in_time_with_a_result_or_a_parse_error(
    name: str, text: str
) -> None:
    call(name, text, SMALL_LIMIT)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@pytest.mark.parametrize("unit", ["[", "{", "|---\n", "a\n", "**x ", "Verdict: no "])
def test_the_longest_answer_read_ends_in_time(name: str, unit: str) -> None:
    text = unit * (LONGEST[name] // len(unit) + 1)
    call(name, text[: LONGEST[name]], LARGE_LIMIT)


@pytest.mark.parametrize("name", ["detections", "points", "classification", "free_text", "json"])
def test_an_answer_past_the_longest_read_is_refused_at_once(name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ParseError, match=f"more than the {LONGEST[name]:,} the parser reads"):
        ENTRY_POINTS[name]("x" * (LONGEST[name] + 1))
    assert time.perf_counter() - started < 0.5


def test_deep_nesting_is_a_parse_error_not_a_recursion_error() -> None:
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        for name in ("detections", "json", "classification"):
            call(name, text, SMALL_LIMIT)


def test_none_is_a_class_like_any_other_when_the_vocabulary_has_it() -> None:
    with_none = parse_classification("none", ["cat", "none"], multi_label=False)
    assert with_none.top is not None and with_none.top.label == "none"
    listed = parse_classification("cat, none", ["cat", "none"], multi_label=True)
    assert [p.label for p in listed.predictions] == ["cat", "none"]
    # without it, "none" still means that no class applies
    without = parse_classification("none", ["cat", "dog"], multi_label=False)
    assert without.top is None and without.predictions == ()
