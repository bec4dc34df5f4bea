"""Lenient JSON in model text: find it, repair what is cheap to repair, salvage truncation.

Gemini wraps JSON in markdown fences (```json, ```JSON, a bare ```, indented, sometimes never
closed), surrounds it with prose, splits it over bullet lines, and stops mid-value when it hits
``maxOutputTokens``. :func:`scan_json` finds every JSON value in a text, region by region: each
fenced block is a region and the unfenced text is one more. It never raises: it tolerates
trailing or doubled commas, missing commas between items, single quotes, ``//``/``#``/``/* */``
comments, unquoted keys, Python literals (``True``/``None``), raw newlines in strings, "welded"
keys (``"label": "text": "x"``) and stray quotes; and it salvages truncated output: a list cut
short keeps its complete items (:class:`PartialList`), an object cut short keeps its complete
members (:class:`PartialDict`) so callers can tell a cut-off item from a complete one.

:func:`extract_json` is the convenience for callers that want one value; it is the only
function here that raises (:class:`~.errors.ParseError`, carrying the raw text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gemini_vision.errors import ParseError
from gemini_vision.parsing.json_reader import (
    LenientParser,
    PartialDict,
    PartialList,
    SyntaxIssue,
    without_surrogates,
)

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_TEXT_ANSWER_CHARS",
    "JsonScan",
    "JsonValue",
    "Malformed",
    "PartialDict",
    "PartialList",
    "Region",
    "check_answer_length",
    "combine",
    "extract_json",
    "markdown_table",
    "region_value",
    "scan_json",
    "without_surrogates",
]

#: characters re-read by failed attempts, per character of text: keeps a scan linear however
#: many brackets the prose holds (a real answer fails a handful of attempts at most)
WORK_PER_CHAR = 20
#: fence info strings that announce JSON (or nothing)
JSON_LANGUAGES = frozenset({"", "json", "jsonc", "json5", "jsonl", "javascript", "js"})


@dataclass(frozen=True)
class Region:
    """Where JSON may live: one fenced block, or all unfenced text (``spans`` are offsets)."""

    index: int
    spans: tuple[tuple[int, int], ...]
    fenced: bool
    #: the fence's info string, lower-cased ("" for a bare fence); None when unfenced
    language: str | None = None

    @property
    def rank(self) -> int:
        """Preference when nothing else decides: JSON fences, then prose, then other fences."""
        if not self.fenced:
            return 1
        return 0 if self.language in JSON_LANGUAGES else 2


@dataclass(frozen=True)
class JsonValue:
    """One JSON value found in the text (offsets are into the scanned text)."""

    value: Any
    start: int
    end: int
    region: Region
    #: the value was cut short (it or one of its items is a Partial*)
    truncated: bool = False
    #: items (array elements) dropped because they were cut short
    lost_items: int = 0
    #: the text of what was cut short and discarded
    lost_text: str = ""
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Malformed:
    """A ``{...}`` that could not be read, and from which nothing could be salvaged."""

    raw: str
    start: int
    region: Region
    reason: str


@dataclass(frozen=True)
class JsonScan:
    """Everything :func:`scan_json` found in one text."""

    text: str
    regions: tuple[Region, ...]
    values: tuple[JsonValue, ...]
    malformed: tuple[Malformed, ...]
    #: the scan stopped early (too many failed brackets); later values may be missing
    exhausted: bool = False

    def values_in(self, region: Region) -> list[JsonValue]:
        return [v for v in self.values if v.region.index == region.index]

    def malformed_in(self, region: Region) -> list[Malformed]:
        return [m for m in self.malformed if m.region.index == region.index]

    def best_region(self) -> Region | None:
        """The region holding the answer: JSON fences first, then prose, then other fences."""
        with_values = {v.region.index for v in self.values}
        candidates = [r for r in self.regions if r.index in with_values]
        return min(candidates, key=lambda r: (r.rank, r.index)) if candidates else None


# --------------------------------------------------------------------------------------------
# Regions: fenced blocks and the rest

_FENCE = re.compile(r"(`{3,}|~{3,})")
_INFO = re.compile(r"[ \t]*([A-Za-z][\w+.#-]*)?[ \t]*\r?\n?")


def _next_fence(text: str, pos: int) -> re.Match[str] | None:
    """``_FENCE.search(text, pos)``, found by ``str.find`` first: the regular expression's
    alternation is tried at every character (0.2 ms over a 6 kB answer), ``find`` is not."""
    starts = [i for i in (text.find("```", pos), text.find("~~~", pos)) if i >= 0]
    return _FENCE.match(text, min(starts)) if starts else None


def _regions(text: str) -> tuple[Region, ...]:
    fenced: list[Region] = []
    outside: list[tuple[int, int]] = []
    pos = 0
    while True:
        opening = _next_fence(text, pos)
        if opening is None:
            outside.append((pos, len(text)))
            break
        outside.append((pos, opening.start()))
        info = _INFO.match(text, opening.end())
        body_start = info.end() if info else opening.end()
        language = (info.group(1) or "").lower() if info else ""
        fence = opening.group(1)
        closing = re.compile(re.escape(fence[0]) + "{3,}").search(text, body_start)
        body_end = closing.start() if closing else len(text)
        fenced.append(
            Region(
                index=len(fenced) + 1,
                spans=((body_start, body_end),),
                fenced=True,
                language=language,
            )
        )
        if closing is None:
            break
        pos = closing.end()
    spans = tuple((a, b) for a, b in outside if b > a)
    return (Region(index=0, spans=spans, fenced=False), *fenced)


# --------------------------------------------------------------------------------------------
# Scanning


_OPENERS = re.compile(r"[\[{]")


@dataclass
class _ScanState:
    text: str
    exhausted: bool = False
    values: list[JsonValue] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)


def _strict(text: str, start: int, end: int, region: Region) -> JsonValue | None:
    """Fast path: the whole span is plain JSON."""
    body = text[start:end]
    stripped = body.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    offset = start + body.index(stripped[0])
    return JsonValue(value, offset, offset + len(stripped), region)


def _scan_span(state: _ScanState, start: int, end: int, region: Region) -> None:
    strict = _strict(state.text, start, end, region)
    if strict is not None:
        state.values.append(strict)
        return
    text = state.text
    budget = WORK_PER_CHAR * (end - start) + 10_000
    # objects that failed to parse: (start, end, index into state.malformed); only objects may
    # be salvaged from inside them
    failed: list[tuple[int, int, int]] = []
    salvaged_inside: set[int] = set()
    pos = start
    while pos < end:
        opening = _OPENERS.search(text, pos, end)
        if opening is None:
            break
        p = opening.start()
        parser = LenientParser(text, p, end)
        try:
            value, complete = parser.value()
        except (SyntaxIssue, RecursionError) as issue:
            issue_pos = max(issue.pos if isinstance(issue, SyntaxIssue) else p, p)
            budget -= issue_pos - p + 1
            if budget < 0:
                state.exhausted = True
                break
            if text[p] == "{" and ":" in text[p : issue_pos + 1]:
                failed.append((p, issue_pos + 1, len(state.malformed)))
                state.malformed.append(Malformed(text[p : issue_pos + 1], p, region, str(issue)))
            # too deep: every opener before the limit would fail the same way, skip them
            too_deep = isinstance(issue, SyntaxIssue) and str(issue) == "nesting too deep"
            pos = issue_pos if too_deep and issue_pos > p else p + 1
            continue
        failed = [f for f in failed if f[1] > p]
        # a bare array that a broken object had read past is one of its members, not an item
        # (when the object broke *inside* this value, a stray quote swallowed text instead)
        if not isinstance(value, dict) and any(f[1] >= parser.pos for f in failed):
            pos = max(parser.pos, p + 1)
            continue
        salvaged_inside.update(f[2] for f in failed)
        lost_text = text[parser.lost_from : end] if parser.lost_from is not None else ""
        state.values.append(
            JsonValue(
                value,
                p,
                parser.pos,
                region,
                truncated=not complete or parser.lost_items > 0,
                lost_items=parser.lost_items,
                lost_text=lost_text,
                repairs=tuple(sorted(parser.repairs)),
            )
        )
        pos = max(parser.pos, p + 1)
    if salvaged_inside:
        state.malformed[:] = [m for i, m in enumerate(state.malformed) if i not in salvaged_inside]


def scan_json(text: str) -> JsonScan:
    """Every JSON value in ``text``, by region, with repairs and truncation noted. Never raises."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    regions = _regions(text)
    state = _ScanState(text)
    for region in regions:
        for start, end in region.spans:
            _scan_span(state, start, end, region)
    values = tuple(sorted(state.values, key=lambda v: (v.region.index, v.start)))
    return JsonScan(text, regions, values, tuple(state.malformed), state.exhausted)


def region_value(scan: JsonScan, region: Region) -> JsonValue | None:
    """The region's values as one: the value itself, or a list of several (bullet lines)."""
    return combine(scan.values_in(region), region)


def combine(found: list[JsonValue], region: Region) -> JsonValue | None:
    """Several values of one region as a single list value (None if there are none)."""
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return JsonValue(
        [v.value for v in found],
        found[0].start,
        found[-1].end,
        region,
        truncated=any(v.truncated for v in found),
        lost_items=sum(v.lost_items for v in found),
        lost_text="".join(v.lost_text for v in found),
        repairs=tuple(sorted({r for v in found for r in v.repairs} | {"several values"})),
    )


#: the longest answer text the spatial and JSON parsers read (characters): about four times
#: the longest answer Gemini can write (65,536 output tokens); every parser path is linear in
#: its input, and past this no answer is one a model meant to give (a ParseError says so)
MAX_ANSWER_CHARS = 1_000_000
#: ... and the classification and free-text parsers: no class, caption or answer is longer
MAX_TEXT_ANSWER_CHARS = 200_000


def check_answer_length(text: str, limit: int = MAX_ANSWER_CHARS) -> None:
    """Raises :class:`~.errors.ParseError` for an answer longer than ``limit`` characters."""
    if len(text) > limit:
        raise ParseError(
            f"the answer is {len(text):,} characters long, more than the {limit:,} the parser "
            "reads; refused",
            raw_text=text[:2000],
        )


def extract_json(text: str) -> JsonValue:
    """The JSON answer in ``text``: the first JSON-fenced block, else the prose, else any block.

    Several values in one region (a markdown list of ``[...]`` lines) come back as one list.
    Raises :class:`~.errors.ParseError` (with ``raw_text``) when there is no JSON at all.
    """
    check_answer_length(text)
    scan = scan_json(text)
    region = scan.best_region()
    found = region_value(scan, region) if region is not None else None
    if found is None:
        raise ParseError("no JSON value found in the model's answer", raw_text=scan.text)
    return found


_TABLE_ROW = re.compile(r"^[ \t]*\|(.*?)\|?[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|?)+[ \t]*$")


def _cell(text: str) -> str:
    return text.strip().strip("*_`").strip()


def markdown_table(text: str) -> list[dict[str, str]] | None:
    """The rows of the first Markdown table in ``text`` as {header: cell} dicts, else None.

    A table is a ``| a | b |`` header line, a ``|---|---|`` rule and at least one row. Cells
    lose their emphasis and code marks (``**cat**``, `` `[1, 2]` ``); headers lose a trailing
    explanation in brackets (``Bounding box (ymin, xmin, ymax, xmax)`` → ``Bounding box``).
    """
    lines = text.splitlines()
    for i in range(len(lines) - 2):
        header = _TABLE_ROW.match(lines[i])
        if header is None or not _TABLE_RULE.match(lines[i + 1]) or "|" not in lines[i + 1]:
            continue
        names = [re.sub(r"\s*[(\[].*$", "", _cell(c)) for c in header.group(1).split("|")]
        rows: list[dict[str, str]] = []
        for line in lines[i + 2 :]:
            row = _TABLE_ROW.match(line)
            if row is None:
                break
            cells = [_cell(c) for c in _split_cells(row.group(1))]
            rows.append({n: c for n, c in zip(names, cells, strict=False) if n and c})
        if rows:
            return rows
    return None


def _split_cells(row: str) -> list[str]:
    """Cells split on ``|`` outside brackets (a cell may hold ``[1, 2, 3, 4]``)."""
    cells, depth, start = [], 0, 0
    for i, char in enumerate(row):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth = max(0, depth - 1)
        elif char == "|" and depth == 0:
            cells.append(row[start:i])
            start = i + 1
    cells.append(row[start:])
    return cells
