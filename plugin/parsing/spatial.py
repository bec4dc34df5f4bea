"""Model text → typed objects, or :class:`~.errors.ParseError` carrying the raw text.

The parser is *total*: any string in, a :class:`ParseResult` (or a classification / text
answer) out, or a ``ParseError``; nothing else escapes. It is never silently empty: an explicit
``[]`` from the model is a legitimate empty answer, and so is a short statement without JSON
that nothing is there ("There are no cats in this image.", "None"; kept as a warning); other
text without usable JSON, or JSON whose every item had to be dropped, is a ``ParseError`` that
says why.

Coordinates follow Gemini: ``box_2d`` is ``(ymin, xmin, ymax, xmax)`` and ``point`` is
``(y, x)``, both normalised to 0-1000 of the image that was sent, y first. Boxes come out
clamped to [0, 1000], with corners sorted and a positive area. Pixels and FiftyOne's relative
``[x, y, w, h]`` are ``geometry``'s business.

What the model writes and what we accept (each quirk seen in real answers, see
``tests/data/real-gemini``): fences with or without a language tag, indented or unclosed,
several blocks, prose around the JSON, bullet lists of values; one object instead of a list;
wrappers (``{"objects": [...]}``, ``{"boxes": ...}``, ``{"cat": [...]}``); items that are JSON
strings; bare ``[ymin, xmin, ymax, xmax]`` arrays, labelled by what precedes them on their line
(``- cat: [...]``, ``1. **Red car** at [...]``) unless the task's default label (one class, a
target) is the better guess; alternate keys (``bbox``, ``box``,
``bounding_box``, ``y/x/y2/x2``, ``ymin/…``; ``text_content``, ``text``, ``name``, ``class`` for
the label; ``point`` or bare ``[y, x]``); truncated output (complete items salvaged, the rest
counted); trailing commas, single quotes, comments; reversed corners (swapped), values outside
0-1000 (clamped), boxes on 0-1 (rescaled), degenerate / null / short / long / non-numeric boxes
(dropped and counted); labels in any language; duplicates (kept and reported). Masks: see
:mod:`.masks`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from gemini_vision.errors import ParseError
from gemini_vision.parsing.items import ItemDropped, Notes, dump, is_item, iter_items, to_object
from gemini_vision.parsing.json_scan import (
    JsonScan,
    JsonValue,
    PartialDict,
    PartialList,
    Region,
    check_answer_length,
    combine,
    markdown_table,
    scan_json,
)
from gemini_vision.parsing.results import (
    Box,
    DroppedItem,
    ParsedObject,
    ParseResult,
)

__all__ = ["dedupe", "parse_detections", "parse_points"]

_MAX_NESTING = 8

# --------------------------------------------------------------------------------------------
# Answers to results


@dataclass
class _Candidate:
    region: Region
    value: JsonValue
    objects: list[ParsedObject]
    dropped: list[DroppedItem]
    notes: Notes
    truncated: bool
    lost_items: int


_ITEM_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)


def _convert(
    scan: JsonScan, region: Region, kind: Literal["box", "point"], default_label: str
) -> _Candidate | None:
    values = scan.values_in(region)
    if not region.fenced and len(values) > 1:
        # numbers in brackets inside prose ("see [1]") are not answers
        values = [v for v in values if not _prose_numbers(v.value)]
    values = [_with_line_label(scan.text, v, default_label) for v in values]
    combined = combine(values, region)
    if combined is None:
        return None
    notes = Notes()
    objects: list[ParsedObject] = []
    dropped: list[DroppedItem] = []
    truncated = combined.truncated
    for item in iter_items(combined.value):
        try:
            objects.append(to_object(item, kind, default_label, notes))
        except ItemDropped as drop:
            truncated = truncated or isinstance(item, PartialDict)
            dropped.append(DroppedItem(drop.reason, dump(item)))
        except (*_ITEM_ERRORS, RecursionError) as exc:  # a safety net: totality over purity
            dropped.append(DroppedItem(f"unreadable item ({type(exc).__name__})", dump(item)))
    for malformed in scan.malformed_in(region):
        dropped.append(DroppedItem(f"malformed JSON: {malformed.reason}", malformed.raw[:400]))
    lost = 0
    for value in values:
        if value.lost_items:
            lost += value.lost_items
            dropped.append(
                DroppedItem(
                    f"cut off by the end of the output (truncated): {value.lost_items} item(s)",
                    value.lost_text[:400],
                )
            )
    return _Candidate(region, combined, objects, dropped, notes, truncated, lost)


#: markdown list markers and emphasis around a label written before a bare array
_LIST_MARKER = re.compile(r"^\s*(?:[-*+\u2022]|\(?\d{1,3}[.)])\s+")
#: what links a label to its coordinates: "cat:", "cat -", "cat is at", "cat (ymin, ...) ="
_LABEL_LINK = re.compile(
    r"(?:\s*(?:[:=\u2013\u2014>-]|\([^()\n]{0,80}\)|\b(?:is|are|at|located|found|in|box|box_2d"
    r"|bbox|bounding\s+box|coordinates|coords|point|position)\b))+\s*$",
    re.I,
)
_ARTICLE = re.compile(r"^(?:(?:and|or|then|also|plus|the|a|an)\b\s*)+", re.I)
#: "(the) bounding box of the cat": what the coordinates are of (articles are gone by then)
_OF_PHRASE = re.compile(
    r"^(?:bounding\s+box(?:es)?|box(?:es)?|coordinates|location|position|point)"
    r"\s+(?:of|for)\s+",
    re.I,
)
_TAG = re.compile(r"<[^<>]{0,40}>")
#: words that make a prefix a sentence, not a label ("Here is the box: [...]")
_SENTENCE_WORDS = re.compile(
    r"\b(?:here|there|this|these|i|we|you|was|were|has|have|shows?|found|detected|image)\b", re.I
)
#: prefixes that name the answer, not the object: "Answer:", "Box 1:", "Output", "json"
_GENERIC_PREFIX = re.compile(
    r"(?:answers?|outputs?|results?|detections?|objects?|boxes|box|items?|json|sure|okay|ok"
    r"|ymin|xmin|ymax|xmax|y|x|bbox|coordinates|response|final|[\W\d_])*",
    re.I,
)
_MAX_LINE_LABEL_WORDS = 6
#: a label is a few words: only this much of the line before an array is read
_LINE_PREFIX_CHARS = 200


def _line_label(text: str, start: int) -> str | None:
    """The label written before a bare array on its line ("- cat: [...]", "1. **Red car** at
    [...]"), or None when the prefix is empty, generic ("Answer:", "Box 1:") or a sentence."""
    line = text[max(text.rfind("\n", 0, start) + 1, start - _LINE_PREFIX_CHARS) : start]
    line = line[max(line.rfind("]"), line.rfind("}")) + 1 :].lstrip(",; \t")
    line = _TAG.sub(" ", line.replace("**", "").replace("__", "").replace("`", ""))
    line = _LIST_MARKER.sub("", line)
    label = _LABEL_LINK.sub("", line).strip(" \t*_\"'")
    # articles before and after "bounding box of": "the bounding box of the cat" -> "cat"
    label = _ARTICLE.sub("", _OF_PHRASE.sub("", _ARTICLE.sub("", label))).strip()
    if (
        not label
        or _GENERIC_PREFIX.fullmatch(label)
        or len(label.split()) > _MAX_LINE_LABEL_WORDS
        or any(c in label for c in "[]{},")
        or _SENTENCE_WORDS.search(label)
    ):
        return None
    return label


def _with_line_label(text: str, found: JsonValue, default_label: str) -> JsonValue:
    """A bare ``[...]`` with a label before it on its line becomes ``{"label", "box_2d"}``
    (``"point"`` for two numbers), so prose lists keep their labels. Not when the task has a
    default label (one class, or a free-text target): that is the better guess."""
    value = found.value
    if default_label or not (isinstance(value, list) and len(value) in (2, 4)):
        return found
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return found
    label = _line_label(text, found.start)
    if label is None:
        return found
    return replace(found, value={"label": label, "point" if len(value) == 2 else "box_2d": value})


def _prose_numbers(value: Any) -> bool:
    """A bracketed list of numbers that cannot be a point or a box: [1], [2, 3, 4]."""
    return (
        isinstance(value, list)
        and len(value) not in (2, 4)
        and bool(value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _explicitly_empty(value: Any, depth: int = 0) -> bool:
    """``[]``, or a wrapper holding only ``[]`` (``{"objects": []}``): the model found nothing."""
    if depth > _MAX_NESTING or isinstance(value, PartialList | PartialDict):
        return False
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return (
            bool(value)
            and not is_item(value)
            and all(
                isinstance(v, dict | list) and _explicitly_empty(v, depth + 1)
                for v in value.values()
            )
        )
    return False


def _no_json_message(text: str) -> str:
    if not text.strip():
        return "the model's answer is empty"
    if "<start_of_mask>" in text or "<seg_" in text:
        return (
            "the answer holds <start_of_mask><seg_N> mask tokens but no JSON object "
            "(an internal mask encoding; use gemini-2.5-flash with thinking off)"
        )
    if "data:image/png" in text or "iVBORw0KGgo" in text:
        return "the answer holds a PNG mask fragment but no complete JSON object"
    preview = " ".join(text.split())[:80]
    return f"no JSON in the model's answer (it starts: {preview!r})"


#: a whole answer that is just "none": ``None``, ``null``, ``No objects found.``
_NONE_ANSWER = re.compile(
    r"(?:none|null|nothing|no\s+(?:objects?|items?|matches|results?)"
    r"(?:\s+(?:were\s+|was\s+)?(?:found|detected|visible))?)",
    re.I,
)
#: a sentence saying the asked-for thing is not in the image
_NOT_THERE = re.compile(
    r"\bthere\s+(?:are|is|were|was)\s+no\b"
    r"|\b(?:can\s*not|can'?t|could\s*n[o']?t|do\s*n[o']?t|did\s*n[o']?t|unable\s+to)\s+"
    r"(?:find|see|detect|locate|spot)\s+(?:any|a|an)\b"
    r"|\bno\s+[\w\s'-]{1,60}?\s+(?:were|was|are|is|could\s+be)\s+"
    r"(?:found|detected|visible|present|seen)\b"
    r"|\b(?:does|do)\s*(?:not|n't)\s+(?:contain|show|include)\s+any\b",
    re.I,
)
#: refusals and complaints that merely contain a negation: not an answer
_NOT_A_VERDICT = re.compile(
    r"\bsorry\b|\bidentify\s+(?:people|persons?|individuals|faces?)\b"
    r"|\b(?:find|see|detect|locate|spot)\s+(?:any|an?|the)\s+(?:images?|pictures?|photos?|files?)\b",
    re.I,
)
_MAX_VERDICT_CHARS = 200


def _nothing_found(text: str) -> str | None:
    """The model's statement when a JSON-less answer only says nothing is there, else None.

    Only short answers count: a long text with a negation in it is prose, not a verdict.
    """
    statement = " ".join(text.replace("*", " ").replace("`", " ").split()).strip()
    if not statement or len(statement) > _MAX_VERDICT_CHARS or _NOT_A_VERDICT.search(statement):
        return None
    if _NONE_ANSWER.fullmatch(statement.rstrip(".!")) or _NOT_THERE.search(statement):
        return statement
    return None


def _summary(dropped: Sequence[DroppedItem]) -> str:
    """ "2 × degenerate box; 1 × no box_2d (first: <full reason>)"."""
    counts = Counter(re.split(r"[:(;]", d.reason, maxsplit=1)[0].strip() for d in dropped)
    kinds = "; ".join(f"{n} × {reason}" for reason, n in counts.most_common(4))
    return f"{kinds} (first: {dropped[0].reason[:200]})"


def _unit_scale(objects: list[ParsedObject]) -> list[ParsedObject] | None:
    """Boxes on 0-1 instead of 0-1000 (all values ≤ 1, some fractional): rescaled, else None."""
    values: list[float] = []
    for obj in objects:
        values += list(obj.box_2d or ()) + list(obj.point or ())
        if obj.mask and obj.mask.polygon_parts_yx:
            values += [c for part in obj.mask.polygon_parts_yx for p in part for c in p]
    if not values or max(values) > 1.0 or all(v == int(v) for v in values):
        return None

    def scale(obj: ParsedObject) -> ParsedObject:
        mask, box = obj.mask, obj.box_2d
        if mask and mask.polygon_parts_yx:
            parts = tuple(tuple((y * 1000, x * 1000) for y, x in p) for p in mask.polygon_parts_yx)
            mask = replace(mask, polygon_yx=parts[0], polygon_parts_yx=parts)
        return replace(
            obj,
            box_2d=(box[0] * 1000, box[1] * 1000, box[2] * 1000, box[3] * 1000) if box else None,
            point=(obj.point[0] * 1000, obj.point[1] * 1000) if obj.point else None,
            mask=mask,
        )

    return [scale(o) for o in objects]


def _duplicates(objects: Sequence[ParsedObject]) -> tuple[tuple[int, int], ...]:
    first: dict[Any, int] = {}
    pairs: list[tuple[int, int]] = []
    for i, obj in enumerate(objects):
        key = obj.box_2d if obj.box_2d is not None else obj.point
        if key is None:
            continue
        if key in first:
            pairs.append((first[key], i))
        else:
            first[key] = i
    return tuple(pairs)


def _describe(region: Region) -> str:
    if not region.fenced:
        return "the unfenced text"
    return f"fenced block #{region.index}" + (f" ({region.language})" if region.language else "")


def _mask_warnings(objects: Sequence[ParsedObject]) -> list[str]:
    bad = Counter(
        f"{o.mask.kind}: {re.sub(r'[:(].*', '', o.mask.reason or '').strip()}"
        for o in objects
        if o.mask is not None and not o.mask.usable
    )
    return [f"{n} mask(s) {what}" for what, n in bad.items()]


def _parse_spatial(text: str, kind: Literal["box", "point"], default_label: str) -> ParseResult:
    raw_text = text if isinstance(text, str) else ("" if text is None else str(text))
    check_answer_length(raw_text)
    rows = markdown_table(raw_text)
    if rows:
        # a table's coordinates would also be found as bare arrays, without their labels
        try:
            tabled = _parse_json_text(json.dumps(rows), kind, default_label)
        except ParseError:
            tabled = None
        if tabled is not None and tabled.objects:
            warnings = (*tabled.warnings, "objects read from a Markdown table")
            return replace(tabled, raw_text=raw_text, warnings=warnings)
    return _parse_json_text(raw_text, kind, default_label)


def _parse_json_text(
    raw_text: str, kind: Literal["box", "point"], default_label: str
) -> ParseResult:
    scan = scan_json(raw_text)
    candidates = [c for r in scan.regions if (c := _convert(scan, r, kind, default_label))]
    if not candidates:
        statement = _nothing_found(raw_text)
        if statement is not None:
            return ParseResult((), raw_text, warnings=(f"the model found nothing: {statement!r}",))
        raise ParseError(_no_json_message(raw_text), raw_text=raw_text)
    # the place with the most objects; ties go to JSON fences, then prose, then the first
    best = max(candidates, key=lambda c: (len(c.objects), -c.region.rank, -c.region.index))
    if not best.objects:
        return _without_objects(best, raw_text, kind)
    objects = best.objects
    warnings = [f"{note} ({n}×)" for note, n in best.notes.counts.items()]
    rescaled = _unit_scale(objects)
    if rescaled is not None:
        objects = rescaled
        warnings.append("coordinates were on 0-1, not 0-1000: rescaled")
    warnings += _reading_warnings(scan, best, candidates, len(objects))
    warnings += _mask_warnings(objects)
    duplicates = _duplicates(objects)
    if duplicates:
        warnings.append(f"{len(duplicates)} duplicate {'boxes' if kind == 'box' else 'points'}")
    return ParseResult(
        tuple(objects),
        raw_text,
        truncated=best.truncated,
        dropped=tuple(best.dropped),
        warnings=tuple(warnings),
        duplicates=duplicates,
        lost_items=best.lost_items,
    )


def _without_objects(
    best: _Candidate, raw_text: str, kind: Literal["box", "point"]
) -> ParseResult:
    """An explicitly empty answer (``[]``, ``{"objects": []}``); else a ParseError that says
    why every item was dropped."""
    if not best.dropped and _explicitly_empty(best.value.value):
        return ParseResult((), raw_text, warnings=("the model returned an empty list",))
    what = "boxes" if kind == "box" else "points"
    dropped = best.dropped or [DroppedItem("no items", dump(best.value.value))]
    raise ParseError(
        f"no usable {what} in the model's answer: {_summary(dropped)}", raw_text=raw_text
    )


def _reading_warnings(
    scan: JsonScan, best: _Candidate, candidates: Sequence[_Candidate], kept: int
) -> list[str]:
    """What reading the answer took: JSON repairs, other places holding objects, truncation,
    a scan stopped early. ``kept`` is the number of objects used."""
    warnings = []
    repairs = sorted({r for v in scan.values_in(best.region) for r in v.repairs})
    if repairs:
        warnings.append("JSON repaired: " + ", ".join(repairs))
    others = [c for c in candidates if c is not best and c.objects]
    if others:
        warnings.append(
            f"{len(others) + 1} places in the answer held objects; used {_describe(best.region)}"
            f" ({kept} objects)"
        )
    if best.truncated:
        warnings.append(
            f"output truncated: kept {kept} complete objects, lost {best.lost_items} "
            "cut off at the end"
        )
    if scan.exhausted:
        warnings.append("the answer has too many brackets; scanning stopped early")
    return warnings


def parse_detections(text: str, *, default_label: str = "") -> ParseResult:
    """Boxes (and masks, when the items carry them) from a detection or segmentation answer.

    ``default_label`` names objects the model left unlabelled (bare ``[ymin, xmin, ymax,
    xmax]`` arrays). Raises :class:`~.errors.ParseError` when nothing usable is found.
    """
    return _parse_spatial(text, "box", default_label)


def parse_points(text: str, *, default_label: str = "") -> ParseResult:
    """Points ``(y, x)`` on 0-1000 from a pointing answer (a box's centre if it sent boxes)."""
    return _parse_spatial(text, "point", default_label)


def _iou(a: Box, b: Box) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(
        0.0, min(a[3], b[3]) - max(a[1], b[1])
    )
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def dedupe(
    objects: Sequence[ParsedObject], *, same_label: bool = True, iou_threshold: float | None = None
) -> tuple[ParsedObject, ...]:
    """``objects`` without repeats, first kept: identical boxes (or points) with the same label;
    any label if ``same_label`` is False; boxes overlapping ≥ ``iou_threshold`` if given."""
    kept: list[ParsedObject] = []
    for obj in objects:
        if not any(_same(obj, other, same_label, iou_threshold) for other in kept):
            kept.append(obj)
    return tuple(kept)


def _same(a: ParsedObject, b: ParsedObject, same_label: bool, iou_threshold: float | None) -> bool:
    if same_label and a.label != b.label:
        return False
    if a.box_2d is not None and b.box_2d is not None:
        if a.box_2d == b.box_2d:
            return True
        return iou_threshold is not None and _iou(a.box_2d, b.box_2d) >= iou_threshold
    return a.box_2d is None and b.box_2d is None and a.point is not None and a.point == b.point
