"""JSON items → :class:`~.results.ParsedObject`: boxes, points, labels, confidences, masks.

:func:`iter_items` flattens whatever shape the answer has (wrappers, nested lists, JSON strings,
``{"label": [box, ...]}`` maps) into candidate items; :func:`to_object` turns one item into an
object or raises :class:`ItemDropped` with the reason. Keys are matched after normalisation
(lower case, letters and digits only: ``"Box_2D"`` → ``box2d``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gemini_vision.parsing.json_scan import (
    PartialDict,
    region_value,
    scan_json,
    without_surrogates,
)
from gemini_vision.parsing.masks import MaskData, parse_mask_value
from gemini_vision.parsing.numbers import finite_number, parse_confidence
from gemini_vision.parsing.results import Box, ParsedObject, Point

__all__ = ["ItemDropped", "Notes", "dump", "is_item", "iter_items", "to_object"]

_BOX_KEYS = ("box2d", "bbox2d", "boundingbox2d", "bbox", "box", "boundingbox", "rect", "bounds")
_CORNER_KEYS = (
    ("ymin", "xmin", "ymax", "xmax"),
    ("y1", "x1", "y2", "x2"),
    ("y", "x", "y2", "x2"),
    ("y0", "x0", "y1", "x1"),
    ("top", "left", "bottom", "right"),
)
_SIZE_KEYS = (("y", "x", "h", "w"), ("y", "x", "height", "width"))
_POINT_KEYS = ("point", "point2d", "yx", "pt", "position", "location", "center")
_EITHER_KEYS = ("coordinates", "coords")
_MASK_KEYS = ("mask", "segmentation", "segmentationmask", "polygon", "contour", "outline")
_LABEL_KEYS = (
    "label",
    "textcontent",
    "text",
    "name",
    "class",
    "classname",
    "category",
    "object",
    "objectname",
    "description",
    "title",
)
_CONFIDENCE_KEYS = ("confidence", "score", "probability", "conf", "certainty")
_WRAPPER_KEYS = (
    "objects",
    "boxes",
    "detections",
    "boundingboxes",
    "points",
    "masks",
    "segmentations",
    "items",
    "results",
    "predictions",
    "annotations",
    "data",
    "output",
    "response",
    "result",
)
_ITEM_KEYS = frozenset(
    (*_BOX_KEYS, *_POINT_KEYS, *_EITHER_KEYS, *_MASK_KEYS, *_LABEL_KEYS, *_CONFIDENCE_KEYS)
).union(*_CORNER_KEYS)
_MAX_NESTING = 8


def _norm_key(key: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(key).lower())


def dump(value: Any, limit: int = 400) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------------------------
# From JSON values to candidate items


def _is_coords(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(finite_number(v) is not None for v in value)
    )


def is_item(value: dict[str, Any]) -> bool:
    return any(_norm_key(k) in _ITEM_KEYS for k in value)


def iter_items(value: Any, depth: int = 0) -> Iterator[Any]:
    """Flattens wrappers, nested lists and JSON-string items into candidate items."""
    if depth > _MAX_NESTING:
        yield value
        return
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            found = region_value(scan := scan_json(stripped), scan.regions[0])
            if found is not None:
                yield from iter_items(found.value, depth + 1)
                return
        yield value
    elif isinstance(value, dict):
        if is_item(value):
            yield value
            return
        for key, inner in value.items():
            if _norm_key(key) in _WRAPPER_KEYS and isinstance(inner, list | dict):
                yield from iter_items(inner, depth + 1)
                return
        if value and all(isinstance(v, list | dict) for v in value.values()):
            # {"cat": [[...4...], ...], "dog": {...}}: keys name the objects
            for key, inner in value.items():
                yield from _keyed(str(key), inner, depth + 1)
            return
        yield value
    elif isinstance(value, list) and not _is_coords(value):
        for item in value:
            yield from iter_items(item, depth + 1)
    else:
        yield value


def _keyed(label: str, value: Any, depth: int) -> Iterator[Any]:
    if _is_coords(value):
        yield {"box_2d" if len(value) != 2 else "point": value, "label": label}
        return
    for item in iter_items(value, depth):
        if _is_coords(item):
            yield {"box_2d" if len(item) != 2 else "point": item, "label": label}
        elif isinstance(item, dict) and not any(_norm_key(k) in _LABEL_KEYS for k in item):
            yield {**item, "label": label}
        else:
            yield item


# --------------------------------------------------------------------------------------------
# Items to objects


@dataclass
class Notes:
    """Counts of repairs made while converting items, turned into warnings at the end."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, note: str) -> None:
        self.counts[note] += 1


class ItemDropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _box_numbers(value: Any, what: str) -> list[float]:
    if value is None:
        raise ItemDropped(f"{what} is null")
    if isinstance(value, dict):
        nk = {_norm_key(k): k for k in value}
        for names in _CORNER_KEYS:
            if all(n in nk for n in names):
                return _box_numbers([value[nk[n]] for n in names], what)
        raise ItemDropped(f"{what} is an object without ymin/xmin/ymax/xmax")
    if isinstance(value, str):
        numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", value)
        if not numbers or re.sub(r"[-+\d.eE\s,;\[\]()]", "", value):
            raise ItemDropped(f"{what} is not numeric: {value[:40]!r}")
        value = numbers
    if not isinstance(value, list):
        raise ItemDropped(f"{what} is a {type(value).__name__}, not a list of 4 numbers")
    if len(value) == 2 and all(isinstance(v, list) and len(v) == 2 for v in value):
        value = [*value[0], *value[1]]  # two corners [[y1, x1], [y2, x2]]
    numbers = [finite_number(v) for v in value]
    if any(n is None for n in numbers):
        raise ItemDropped(f"{what} has non-numeric or non-finite values: {dump(value, 80)}")
    if len(numbers) != 4:
        raise ItemDropped(f"{what} has {len(numbers)} values, expected 4 (ymin, xmin, ymax, xmax)")
    return [n for n in numbers if n is not None]


def _normalize_box(numbers: Sequence[float], notes: Notes) -> Box:
    clamped = [min(1000.0, max(0.0, n)) for n in numbers]
    if clamped != list(numbers):
        notes.add("box values outside 0-1000 clamped")
    ymin, xmin, ymax, xmax = clamped
    if ymin > ymax or xmin > xmax:
        notes.add("reversed box corners swapped")
    ymin, ymax = sorted((ymin, ymax))
    xmin, xmax = sorted((xmin, xmax))
    if ymax - ymin <= 0 or xmax - xmin <= 0:
        raise ItemDropped(f"degenerate box (zero area after clamping): {dump(list(numbers), 80)}")
    return (ymin, xmin, ymax, xmax)


def _find_box(item: dict[str, Any], nk: dict[str, str], used: set[str]) -> list[float] | None:
    for key in _BOX_KEYS:
        if key in nk:
            used.add(nk[key])
            return _box_numbers(item[nk[key]], nk[key])
    for names in _CORNER_KEYS:
        if all(n in nk for n in names):
            used.update(nk[n] for n in names)
            return _box_numbers([item[nk[n]] for n in names], "/".join(nk[n] for n in names))
    for names in _SIZE_KEYS:
        if all(n in nk for n in names):
            used.update(nk[n] for n in names)
            y, x, h, w = _box_numbers([item[nk[n]] for n in names], "/".join(names))
            return [y, x, y + h, x + w]
    for key in _EITHER_KEYS:
        if key in nk and isinstance(item[nk[key]], list) and len(item[nk[key]]) == 4:
            used.add(nk[key])
            return _box_numbers(item[nk[key]], nk[key])
    return None


def _point_numbers(value: Any, what: str) -> Point:
    if isinstance(value, dict):
        nk = {_norm_key(k): k for k in value}
        if "y" in nk and "x" in nk:
            value = [value[nk["y"]], value[nk["x"]]]
    if isinstance(value, str):
        value = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)", value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list) or len(value) != 2:
        raise ItemDropped(f"{what} is not a [y, x] pair: {dump(value, 80)}")
    y, x = (finite_number(v) for v in value)
    if y is None or x is None:
        raise ItemDropped(f"{what} has non-numeric values: {dump(value, 80)}")
    return (y, x)


def _normalize_point(point: Point, notes: Notes) -> Point:
    clamped = (min(1000.0, max(0.0, point[0])), min(1000.0, max(0.0, point[1])))
    if clamped != point:
        notes.add("point values outside 0-1000 clamped")
    return clamped


def _find_point(item: dict[str, Any], nk: dict[str, str], used: set[str]) -> Point | None:
    for key in _POINT_KEYS:
        if key in nk and item[nk[key]] is not None:
            used.add(nk[key])
            return _point_numbers(item[nk[key]], nk[key])
    if "y" in nk and "x" in nk and not any(k in nk for k in ("y2", "x2", "h", "w", "height")):
        used.update((nk["y"], nk["x"]))
        return _point_numbers([item[nk["y"]], item[nk["x"]]], "y/x")
    for key in _EITHER_KEYS:
        if key in nk and isinstance(item[nk[key]], list) and len(item[nk[key]]) == 2:
            used.add(nk[key])
            return _point_numbers(item[nk[key]], nk[key])
    points = item[nk["points"]] if "points" in nk else None
    if isinstance(points, list) and len(points) == 1 and _is_coords(points[0]):
        # {"points": [[y, x]], "label": ...}: a one-point list
        used.add(nk["points"])
        return _point_numbers(points[0], nk["points"])
    return None


def _label(item: dict[str, Any], nk: dict[str, str], used: set[str]) -> str | None:
    for key in _LABEL_KEYS:
        if key in nk and item[nk[key]] is not None:
            used.add(nk[key])
            value = item[nk[key]]
            return without_surrogates(value if isinstance(value, str) else dump(value, 200))
    return None


def to_object(
    item: Any, kind: Literal["box", "point"], default_label: str, notes: Notes
) -> ParsedObject:
    """One item → object; raises ItemDropped with the reason when it cannot be one.

    ``kind`` is what the task needs: a ``"box"`` item without a box is dropped; a ``"point"``
    item without a point takes its box's centre. Coordinates are on 0-1000, y first.
    """
    if isinstance(item, PartialDict):
        raise ItemDropped("cut off by the end of the output (truncated)")
    if _is_coords(item):
        return _bare_object(item, kind, default_label, notes)
    if not isinstance(item, dict):
        raise ItemDropped(f"not an object: {dump(item, 80)}")
    nk: dict[str, str] = {}
    for key in item:
        nk.setdefault(_norm_key(key), key)
    used: set[str] = set()
    box, point, mask = _geometry(item, nk, used, notes)
    if kind == "box" and box is None:
        details = [f"keys: {sorted(map(str, item))[:6]}"]
        if point is not None:
            details.append("the item has a point")
        if mask is not None:
            details.append(f"its mask is {mask.kind}: {mask.reason}")
        raise ItemDropped("no box_2d (" + "; ".join(details) + ")")
    if kind == "point" and point is None:
        if box is None:
            raise ItemDropped(f"no point (keys: {sorted(map(str, item))[:6]})")
        notes.add("point taken as the centre of a box")
        point = _centre(box)
    raw_label = _label(item, nk, used)
    label = raw_label.strip() if raw_label is not None else default_label
    confidence = _confidence(item, nk, used, notes)
    attributes = {k: v for k, v in item.items() if k not in used}
    return ParsedObject(label, box, point, mask, confidence, attributes, raw_label)


def _bare_object(
    item: list[Any], kind: Literal["box", "point"], default_label: str, notes: Notes
) -> ParsedObject:
    """A bare ``[y, x]`` or ``[ymin, xmin, ymax, xmax]`` array, labelled ``default_label``."""
    if kind == "point" and len(item) == 2:
        return ParsedObject(
            default_label, point=_normalize_point(_point_numbers(item, "point"), notes)
        )
    bare = _normalize_box(_box_numbers(item, "bare array"), notes)
    if kind == "point":
        notes.add("point taken as the centre of a box")
        return ParsedObject(default_label, box_2d=bare, point=_centre(bare))
    return ParsedObject(default_label, box_2d=bare)


def _geometry(
    item: dict[str, Any], nk: dict[str, str], used: set[str], notes: Notes
) -> tuple[Box | None, Point | None, MaskData | None]:
    """The item's box, point and mask, each normalised to 0-1000 (None when absent). A polygon
    mask without a box gives the box around it."""
    raw_box = _find_box(item, nk, used)
    point = _find_point(item, nk, used)
    mask_key = next((nk[k] for k in _MASK_KEYS if k in nk), None)
    if mask_key is not None:
        used.add(mask_key)
    box: Box | None = _normalize_box(raw_box, notes) if raw_box is not None else None
    mask = parse_mask_value(item[mask_key], box) if mask_key is not None else None
    if box is None and mask is not None and mask.kind == "polygon" and mask.polygon_parts_yx:
        points = [p for part in mask.polygon_parts_yx for p in part]
        ys, xs = [p[0] for p in points], [p[1] for p in points]
        box = _normalize_box([min(ys), min(xs), max(ys), max(xs)], notes)
        notes.add("box derived from a polygon mask")
    if point is not None:
        point = _normalize_point(point, notes)
    return box, point, mask


def _confidence(
    item: dict[str, Any], nk: dict[str, str], used: set[str], notes: Notes
) -> float | None:
    """The item's confidence in [0, 1] (see :func:`~.numbers.parse_confidence`), or None."""
    key = next((nk[k] for k in _CONFIDENCE_KEYS if k in nk), None)
    if key is None:
        return None
    used.add(key)
    return parse_confidence(item[key], note=notes.add)


def _centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
