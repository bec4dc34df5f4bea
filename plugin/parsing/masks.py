"""Read the ``"mask"`` value of one segmentation item, in every form Gemini has used.

- a PNG data URI (``data:image/png;base64,iVBOR…``; Gemini 2.5): decoded to bytes and checked
  (signature, IHDR size, IEND present) but not to pixels; ``geometry`` decodes pixels;
- a bare base64 PNG (``iVBORw0KGgo…``);
- a polygon on 0-1000 (Gemini 3.5 / Robotics-ER): ``[[a, b], …]``, a flat ``[a, b, …]`` list,
  chunked lists, ``[{"y":…, "x":…}]`` or a ``"a,b,…"`` string. Whether pairs are ``[y, x]`` or
  ``[x, y]`` is ambiguous in the wild: with a box we pick the order whose bounds agree best with
  it; without one we assume ``[y, x]`` like every other Gemini coordinate; the order is recorded;
- ``<start_of_mask><seg_N>…`` tokens and placeholders such as ``"gimme_mask_for_this"``:
  kind ``unsupported`` (the box stays usable), with the reason;
- anything else (elided ``...(省略)...``, broken base64, a PNG cut short): kind ``invalid``.

Never raises.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from typing import Any, Literal

from gemini_vision.errors import ParseError
from gemini_vision.parsing.json_scan import extract_json
from gemini_vision.parsing.numbers import finite_number

__all__ = ["MaskData", "MaskKind", "parse_mask_value"]

MaskKind = Literal["png", "polygon", "unsupported", "invalid"]
Box = tuple[float, float, float, float]
PointYX = tuple[float, float]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DATA_URI = re.compile(r"^\s*data:([\w.+-]+/[\w.+-]+)?((?:;[\w=.-]+)*)\s*,\s*", re.I)
_BASE64_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-\s]*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NUMBER_LIST = re.compile(
    r"^[\s\[\](){}]*[-+]?[\d.]+(?:[eE][-+]?\d+)?(?:[\s,;\[\](){}]+[-+]?[\d.]+(?:[eE][-+]?\d+)?)*"
    r"[\s\[\](){}]*$"
)
_MAX_DEPTH = 6


@dataclass(frozen=True)
class MaskData:
    """A mask as the model gave it. ``png`` holds encoded bytes; ``polygon_yx`` is (y, x) on
    0-1000 of the whole image (the first part; ``polygon_parts_yx`` holds every part)."""

    kind: MaskKind
    png: bytes | None = None
    polygon_yx: tuple[PointYX, ...] | None = None
    reason: str | None = None
    #: (width, height) in pixels from the PNG header; Gemini 2.5 sends 256 x 256
    png_size: tuple[int, int] | None = None
    #: "yx" or "xy": how the model ordered each polygon point (``polygon_yx`` is always y, x)
    polygon_order: Literal["yx", "xy"] | None = None
    polygon_parts_yx: tuple[tuple[PointYX, ...], ...] | None = None

    @property
    def usable(self) -> bool:
        return self.kind in ("png", "polygon")


def _invalid(reason: str) -> MaskData:
    return MaskData("invalid", reason=reason)


def _preview(text: str, size: int = 40) -> str:
    return repr(text if len(text) <= size else text[:size] + "…")


def parse_mask_value(value: Any, box_2d: Box | None = None) -> MaskData:
    """The mask in ``value`` (see the module docstring); ``box_2d`` (ymin, xmin, ymax, xmax on
    0-1000) only settles the [y, x] / [x, y] order of polygon points."""
    try:
        return _parse(value, box_2d, 0)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # pragma: no cover
        return _invalid(f"unreadable mask value ({type(exc).__name__})")


def _parse(value: Any, box_2d: Box | None, depth: int) -> MaskData:
    if value is None:
        return _invalid("mask is null")
    if isinstance(value, str):
        return _from_string(value, box_2d, depth)
    if isinstance(value, dict):
        for key in ("points", "polygon", "polygons", "contour", "mask", "data"):
            if key in value and depth < _MAX_DEPTH:
                return _parse(value[key], box_2d, depth + 1)
        return _invalid(f"mask is an object without points (keys: {sorted(value)[:5]})")
    if isinstance(value, list):
        return _from_list(value, box_2d, depth)
    return _invalid(f"mask is a {type(value).__name__}, not a PNG or a polygon")


def _from_string(text: str, box_2d: Box | None, depth: int) -> MaskData:
    stripped = text.strip()
    if not stripped:
        return _invalid("mask is an empty string")
    if "<start_of_mask>" in stripped or "<seg_" in stripped:
        return MaskData(
            "unsupported",
            reason="mask returned as <start_of_mask><seg_N> tokens, an internal encoding with "
            "no public decoder",
        )
    uri = _DATA_URI.match(stripped)
    if uri:
        media = (uri.group(1) or "").lower()
        if media and media != "image/png":
            return _invalid(f"mask data URI is {media}, not image/png")
        return _from_base64(stripped[uri.end() :])
    if stripped.startswith("iVBOR"):
        return _from_base64(stripped)
    if stripped[0] in "[{" and depth < _MAX_DEPTH:
        try:
            inner = extract_json(stripped)
        except ParseError:
            return _invalid(f"mask string is not valid JSON: {_preview(stripped)}")
        return _parse(inner.value, box_2d, depth + 1)
    if _NUMBER_LIST.match(stripped):
        numbers = [float(n) for n in _NUMBER.findall(stripped)]
        return _polygon_from_flat(numbers, box_2d)
    if len(stripped) <= 64 and " " not in stripped and not _looks_base64(stripped):
        return MaskData(
            "unsupported",
            reason=f"placeholder text instead of a mask: {_preview(stripped)}",
        )
    return _invalid(
        f"mask is neither a PNG data URI, a polygon nor <seg> tokens: {_preview(stripped)}"
    )


def _looks_base64(text: str) -> bool:
    return len(text) >= 16 and bool(_BASE64_CHARS.match(text)) and any(c.isdigit() for c in text)


def _from_base64(payload: str) -> MaskData:
    if "..." in payload or "…" in payload:
        return _invalid(f"mask data was elided ({_preview(payload)}); nothing to decode")
    cleaned = "".join(payload.split())
    if not cleaned:
        return _invalid("mask data URI has no data")
    if not _BASE64_CHARS.match(cleaned):
        return _invalid(f"mask is not valid base64: {_preview(cleaned)}")
    cleaned = cleaned.rstrip("=")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            data = base64.urlsafe_b64decode(cleaned)
        else:
            data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return _invalid(f"mask is not valid base64: {_preview(cleaned)}")
    return _check_png(data)


def _check_png(data: bytes) -> MaskData:
    if not data.startswith(PNG_SIGNATURE):
        return _invalid(f"mask bytes are not a PNG (start with {data[:8]!r})")
    if len(data) < 33 or data[12:16] != b"IHDR":
        return _invalid("mask PNG has no IHDR header (cut short?)")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        return _invalid(f"mask PNG is {width}x{height} pixels")
    if b"IEND" not in data[-12:]:
        return MaskData(
            "invalid",
            png=data,
            png_size=(width, height),
            reason="mask PNG is cut short (no IEND chunk): degenerate or truncated output",
        )
    return MaskData("png", png=data, png_size=(width, height))


# --------------------------------------------------------------------------------------------
# Polygons


def _flat_numbers(value: Any, depth: int = 0) -> list[float] | None:
    """All numbers of a nested list (chunked lists concatenate), or None if any is not one."""
    if depth > _MAX_DEPTH:
        return None
    out: list[float] = []
    for item in value:
        if isinstance(item, list):
            inner = _flat_numbers(item, depth + 1)
            if inner is None:
                return None
            out.extend(inner)
        elif isinstance(item, dict) and "y" in item and "x" in item:
            y, x = finite_number(item["y"]), finite_number(item["x"])
            if y is None or x is None:
                return None
            out.extend((y, x))
        else:
            number = finite_number(item)
            if number is None:
                return None
            out.append(number)
    return out


def _is_polygon_list(value: list[Any]) -> bool:
    """[[[a, b], …], [[a, b], …]]: several polygons rather than one chunked list."""
    return len(value) > 1 and all(
        isinstance(part, list) and part and all(isinstance(p, list) for p in part)
        for part in value
    )


def _from_list(value: list[Any], box_2d: Box | None, depth: int) -> MaskData:
    if not value:
        return _invalid("mask is an empty list")
    if all(isinstance(v, bool) for v in value) or (
        all(isinstance(row, list) for row in value)
        and all(isinstance(v, bool) for row in value for v in row)
    ):
        return MaskData(
            "unsupported",
            reason=f"mask given as a list of {len(value)} booleans/rows (no size or frame)",
        )
    if _is_polygon_list(value):
        parts = [_flat_numbers(part) for part in value]
        if any(p is None for p in parts):
            return _invalid("polygon parts hold non-numeric values")
        return _polygon_parts([p for p in parts if p is not None], box_2d)
    numbers = _flat_numbers(value)
    if numbers is None:
        return _invalid("polygon holds non-numeric values")
    return _polygon_from_flat(numbers, box_2d)


def _polygon_from_flat(numbers: list[float], box_2d: Box | None) -> MaskData:
    return _polygon_parts([numbers], box_2d)


def _bounds(points: list[tuple[float, float]]) -> Box:
    ys = [p[0] for p in points]
    xs = [p[1] for p in points]
    return (min(ys), min(xs), max(ys), max(xs))


def _iou(a: Box, b: Box) -> float:
    inter_h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_h * inter_w
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _area(points: tuple[PointYX, ...]) -> float:
    total = 0.0
    for (y1, x1), (y2, x2) in zip(points, points[1:] + points[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def _clamp(v: float) -> float:
    return min(1000.0, max(0.0, v))


def _polygon_parts(parts_numbers: list[list[float]], box_2d: Box | None) -> MaskData:
    pairs_parts: list[list[tuple[float, float]]] = []
    for numbers in parts_numbers:
        if len(numbers) % 2:
            return _invalid(f"polygon has an odd number of coordinates ({len(numbers)})")
        pairs = [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2)]
        if len(pairs) < 3:
            return _invalid(f"polygon has {len(pairs)} points; at least 3 are needed")
        pairs_parts.append(pairs)
    everything = [p for part in pairs_parts for p in part]
    order: Literal["yx", "xy"] = "yx"
    if box_2d is not None:
        as_yx = _iou(_bounds(everything), box_2d)
        as_xy = _iou(_bounds([(b, a) for a, b in everything]), box_2d)
        if as_xy > as_yx:
            order = "xy"
        note = (
            f"polygon points read as [{order[0]}, {order[1]}]: their bounds match box_2d with "
            f"IoU {max(as_yx, as_xy):.2f} (the other order: {min(as_yx, as_xy):.2f})"
        )
    else:
        note = "polygon points read as [y, x] (Gemini's usual order; no box to check against)"
    parts_yx = tuple(
        tuple((_clamp(a), _clamp(b)) if order == "yx" else (_clamp(b), _clamp(a)) for a, b in part)
        for part in pairs_parts
    )
    if all(_area(part) <= 0 for part in parts_yx):
        return _invalid("polygon has zero area")
    return MaskData(
        "polygon",
        polygon_yx=parts_yx[0],
        reason=note,
        polygon_order=order,
        polygon_parts_yx=parts_yx,
    )
