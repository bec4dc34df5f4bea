"""Shapes an answer to a response schema, the way Gemini's structured output does.

The responder first writes the answer it would give anyway (a list of ``{"box_2d", "label"}``
dicts, a class name, a sentence...); :func:`fit` then reshapes that value to whatever schema
the request carries: ``responseSchema`` (OpenAPI subset, ``"type": "ARRAY"``...) or
``responseJsonSchema`` (JSON Schema, ``"type": "array"``, ``$ref``/``$defs``, ``anyOf``, type
lists). It wraps or unwraps arrays and objects, finds each property's value under its own
name or a synonym (``bbox`` for ``box_2d``, ``score`` for ``confidence``...), maps strings
onto enums, coerces numbers, fills required properties and honours ``maxItems`` and
``propertyOrdering``. It never raises: an unusable schema leaves the value as it is.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["fit", "map_to_enum"]

#: property names that mean the same thing, as models treat them
_SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"box_2d", "box", "bbox", "box2d", "bounding_box", "boundingbox", "boxes"}),
    frozenset({"label", "name", "class", "category", "object", "class_name", "tag", "type"}),
    frozenset({"mask", "segmentation", "segmentation_mask", "mask_png"}),
    frozenset({"point", "points", "coordinates", "coords", "yx", "location", "position"}),
    frozenset({"confidence", "score", "probability", "certainty"}),
    frozenset({"caption", "description", "text", "answer", "summary", "response", "title"}),
    frozenset({"count", "number", "total", "n", "quantity"}),
    frozenset({"labels", "classes", "categories", "tags"}),
    frozenset({"differences", "changes", "diffs"}),
    frozenset({"color", "colour"}),
)
_MAX_DEPTH = 12


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", key.lower().replace("-", "_"))


def _same_meaning(a: str, b: str) -> bool:
    a, b = _norm(a), _norm(b)
    return a == b or any(a in group and b in group for group in _SYNONYMS)


class _Schema:
    """A schema node with ``$ref`` resolved and both type spellings understood."""

    def __init__(self, node: Any, root: Any) -> None:
        self.root = root
        self.node = self._resolve(node)

    def _resolve(self, node: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
            seen += 1
            target: Any = self.root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            node = target
        return node if isinstance(node, dict) else {}

    def sub(self, node: Any) -> _Schema:
        return _Schema(node, self.root)

    @property
    def types(self) -> list[str]:
        raw = self.node.get("type")
        raw_list = raw if isinstance(raw, list) else [raw] if raw else []
        types = [str(t).lower() for t in raw_list if str(t).lower() != "null"]
        if not types:
            if "properties" in self.node:
                types = ["object"]
            elif "items" in self.node:
                types = ["array"]
            elif "enum" in self.node:
                types = ["string"]
        return types

    @property
    def branches(self) -> list[_Schema]:
        options = self.node.get("anyOf") or self.node.get("oneOf") or []
        return [self.sub(o) for o in options if isinstance(o, dict)]

    @property
    def properties(self) -> dict[str, Any]:
        props = self.node.get("properties")
        return props if isinstance(props, dict) else {}

    def ordered_keys(self) -> list[str]:
        order = self.node.get("propertyOrdering")
        keys = list(self.properties)
        if isinstance(order, list):
            keys = [k for k in order if k in self.properties] + [k for k in keys if k not in order]
        return keys


def fit(value: Any, schema: Any) -> Any:
    """``value`` reshaped to ``schema`` (see the module docstring)."""
    if not isinstance(schema, dict) or not schema:
        return value
    try:
        return _fit(value, _Schema(schema, schema), 0)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return value


def _fit(value: Any, schema: _Schema, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if schema.branches and not schema.types:
        return _fit(value, _pick_branch(value, schema.branches), depth + 1)
    types = schema.types
    if not types:
        return value
    kind = _preferred(value, types)
    if kind == "array":
        return _fit_array(value, schema, depth)
    if kind == "object":
        return _fit_object(value, schema, depth)
    return _fit_scalar(value, kind, schema)


def _pick_branch(value: Any, branches: list[_Schema]) -> _Schema:
    want = _json_type(value)
    for branch in branches:
        if want in branch.types or (want == "integer" and "number" in branch.types):
            return branch
    return branches[0]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _preferred(value: Any, types: list[str]) -> str:
    actual = _json_type(value)
    if actual in types:
        return actual
    if actual == "integer" and "number" in types:
        return "number"
    return types[0]


def _fit_array(value: Any, schema: _Schema, depth: int) -> list[Any]:
    items = schema.sub(schema.node.get("items", {}))
    if isinstance(value, dict):
        inner = [v for v in value.values() if isinstance(v, list)]
        # {"objects": [...]} answered to an array schema: the list is the answer
        value = inner[0] if len(inner) == 1 else [value]
    elif not isinstance(value, list | tuple):
        value = [] if value is None else [value]
    out = [_fit(v, items, depth + 1) for v in value]
    limit = str(schema.node.get("maxItems", ""))
    if limit.isdigit():
        out = out[: int(limit)]
    return out


def _fit_object(value: Any, schema: _Schema, depth: int) -> dict[str, Any]:
    keys = schema.ordered_keys()
    if not keys:
        return value if isinstance(value, dict) else {"value": value}
    required = schema.node.get("required")
    required = required if isinstance(required, list) else []
    if not isinstance(value, dict):
        value = _wrap(value, schema, keys)
    out: dict[str, Any] = {}
    for key in keys:
        found = _lookup(value, key)
        prop = schema.sub(schema.properties[key])
        if found is _MISSING:
            if key not in required:
                continue
            found = _default(prop)
        out[key] = _fit(found, prop, depth + 1)
    return out


_MISSING = object()


def _lookup(value: dict[str, Any], key: str) -> Any:
    if key in value:
        return value[key]
    for k, v in value.items():
        if _same_meaning(k, key):
            return v
    return _MISSING


def _wrap(value: Any, schema: _Schema, keys: list[str]) -> dict[str, Any]:
    """A bare value put into the property that fits it (a list into the array property, a
    string into the label/answer/caption property...)."""
    want = _json_type(value)
    for key in keys:
        if want in schema.sub(schema.properties[key]).types:
            return {key: value}
    return {keys[0]: value}


def _default(schema: _Schema) -> Any:
    kind = schema.types[0] if schema.types else "string"
    enum = schema.node.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    return {"array": [], "object": {}, "integer": 0, "number": 0.0, "boolean": False}.get(kind, "")


def _fit_scalar(value: Any, kind: str, schema: _Schema) -> Any:
    if isinstance(value, list | tuple) and kind != "array":
        value = ", ".join(str(v) for v in value) if kind == "string" else (value or [None])[0]
    if isinstance(value, dict) and kind != "object":
        value = next(iter(value.values()), "")
    if kind == "string":
        text = "" if value is None else str(value)
        enum = schema.node.get("enum")
        if isinstance(enum, list) and enum:
            return map_to_enum(text, [str(e) for e in enum])
        return text
    if kind in ("integer", "number"):
        number = _number(value)
        return round(number) if kind == "integer" else number
    if kind == "boolean":
        if isinstance(value, str):
            return value.strip().lower().startswith(("y", "true", "1"))
        return bool(value)
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    match = re.search(r"-?\d+(?:\.\d+)?", str(value))
    return float(match.group(0)) if match else 0.0


def map_to_enum(text: str, enum: list[str]) -> str:
    """The enum value a free-text answer means: an exact (case-insensitive) match, else the
    value mentioned earliest in the text, else one that contains the text, else the first
    value (structured output always returns one of them); the text itself if there are none."""
    if not enum:
        return text
    lowered = text.strip().lower()
    for value in enum:
        if value.lower() == lowered:
            return value
    positions = []
    for value in enum:
        match = re.search(rf"\b{re.escape(value.lower())}s?\b", lowered)
        if match:
            positions.append((match.start(), -len(value), value))
    if positions:
        return min(positions)[2]
    for value in enum:
        if lowered and lowered in value.lower():
            return value
    return enum[0]
