"""Prompt texts and response schemas, per task, in the words of Google's own examples.

Wording comes from the Gemini cookbook's "Spatial understanding" notebook and Google's "Gemini
Robotics ER" overview (detection: "Detect the 2d bounding boxes of …", "Limit to 25 objects",
the "unique characteristic" naming rule; segmentation: the notebook's "Give the segmentation
masks for … Output a JSON list of segmentation masks where each entry contains …" sentence
verbatim; pointing: "The answer should follow the json format: [{"point": <point>, "label":
<label1>}, ...]. The points are in [y, x] format normalized to 0-1000."). Prompts go *after*
the images.

Schemas (``responseSchema``, OpenAPI subset, upper-case types) are used where structured
output helps: detection and pointing (``box_2d``/``point`` as INTEGER arrays, ``label`` as an
enum of the classes when given), classification (``text/x.enum`` for one label, a JSON array
for several). Segmentation gets **no** schema and no JSON mime type: forcing the mask string
makes Gemini loop on degenerate base64 or answer with a placeholder ("gimme_mask_for_this");
tests/data/real-gemini keeps such answers. Captions and answers are plain text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_vision.tasks.spec import TaskSpec

__all__ = ["PROMPTS_VERSION", "prompt_text", "response_format"]

#: part of every task fingerprint: bump when a prompt's wording changes
PROMPTS_VERSION = 1

_UNIQUE_NAMES = (
    "If an object is present multiple times, name them according to their unique "
    "characteristic (colors, size, position, unique characteristics, etc..)."
)


def _quoted(classes: Sequence[str]) -> str:
    return ", ".join(json.dumps(c, ensure_ascii=False) for c in classes)


def _plain_list(classes: Sequence[str]) -> str:
    return ", ".join(classes)


def _label_rule(task: TaskSpec, *, descriptive: str) -> str:
    if task.classes:
        return f'Set "label" to exactly one of: {_quoted(task.classes)}.'
    return descriptive


def _detect(task: TaskSpec) -> str:
    if task.target:
        what = f"Detect the 2d bounding boxes of {task.target}."
    elif task.classes:
        what = f"Detect the 2d bounding boxes of every {_plain_list(task.classes)} in the image."
    else:
        what = "Detect the 2d bounding boxes of all of the prominent items in the image."
    fields = (
        'Output a JSON list where each entry contains the 2D bounding box in the key "box_2d" '
        "as [ymin, xmin, ymax, xmax] normalized to 0-1000"
    )
    if task.with_confidence:
        fields += ', the text label in the key "label" and your confidence between 0 and 1 '
        fields += 'in the key "confidence".'
    else:
        fields += ' and the text label in the key "label".'
    rule = _label_rule(task, descriptive=_UNIQUE_NAMES)
    return f"{what} {fields} {rule} Never return masks. Limit to {task.max_objects} objects."


def _segment(task: TaskSpec) -> str:
    if task.target:
        what = task.target
    elif task.classes:
        what = f"the {_plain_list(task.classes)}"
    else:
        what = "the prominent items in the image"
    rule = _label_rule(task, descriptive="Use descriptive labels.")
    return (
        f"Give the segmentation masks for {what}. Output a JSON list of segmentation masks "
        'where each entry contains the 2D bounding box in the key "box_2d", the segmentation '
        'mask in key "mask", and the text label in the key "label". '
        f"{rule} Limit to {task.max_objects} objects."
    )


def _point(task: TaskSpec) -> str:
    if task.target:
        what = f"Point to {task.target} (no more than {task.max_objects} points)."
    elif task.classes:
        what = (
            f"Get all points matching the following objects: {_plain_list(task.classes)} "
            f"(no more than {task.max_objects} points)."
        )
    else:
        what = f"Point to no more than {task.max_objects} items in the image."
    rule = _label_rule(
        task, descriptive="The label returned should be an identifying name for the object."
    )
    return (
        f"{what} {rule} The answer should follow the json format: "
        '[{"point": <point>, "label": <label1>}, ...]. '
        "The points are in [y, x] format normalized to 0-1000."
    )


def _classify(task: TaskSpec) -> str:
    if task.classes and task.multi_label:
        answer = (
            'Answer with a JSON list of objects with the class in the key "label" and your '
            'confidence between 0 and 1 in the key "confidence"'
            if task.with_confidence
            else "Answer with a JSON list of the classes"
        )
        return (
            f"Which of these classes apply to this image: {_quoted(task.classes)}? "
            f"{answer}; use an empty list if none applies."
        )
    if task.classes:
        if task.with_confidence:
            return (
                f"Classify this image as exactly one of: {_quoted(task.classes)}. Answer with "
                'a JSON object with the class in the key "label" and your confidence between '
                '0 and 1 in the key "confidence".'
            )
        return f"Classify this image. Answer with exactly one of: {_quoted(task.classes)}."
    if task.multi_label:
        return (
            "List the main objects and concepts in this image as a JSON list of short labels "
            "(one to three words each)."
        )
    return (
        "What is the main subject of this image? Answer with a short label of one to three "
        "words only."
    )


def _caption(task: TaskSpec) -> str:
    if task.detail == "detailed":
        return (
            "Describe this image in detail. Reply with the description only, without a preamble."
        )
    return (
        "Caption this image in one sentence. Reply with the caption only, without a "
        "preamble, alternatives or formatting."
    )


def prompt_text(task: TaskSpec) -> str:
    """The text part sent after the image(s); ``task.prompt`` replaces it when set."""
    if task.prompt:
        return task.prompt
    kind = task.kind.value
    if kind == "detect":
        return _detect(task)
    if kind == "segment":
        return _segment(task)
    if kind == "point":
        return _point(task)
    if kind == "classify":
        return _classify(task)
    if kind == "caption":
        return _caption(task)
    if kind == "compare":
        return task.question or "What is different between these images?"
    return task.question or ""


def _integers(count: int) -> dict[str, Any]:
    return {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": count, "maxItems": count}


def _label_schema(task: TaskSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "STRING"}
    if task.classes:
        schema["enum"] = list(task.classes)
    return schema


def _objects_schema(task: TaskSpec, geometry_key: str, size: int) -> dict[str, Any]:
    properties: dict[str, Any] = {geometry_key: _integers(size), "label": _label_schema(task)}
    ordering = [geometry_key, "label"]
    if task.with_confidence:
        properties["confidence"] = {"type": "NUMBER"}
        ordering.append("confidence")
    return {
        "type": "ARRAY",
        "maxItems": task.max_objects,
        "items": {
            "type": "OBJECT",
            "properties": properties,
            "required": ordering,
            "propertyOrdering": ordering,
        },
    }


def response_format(task: TaskSpec) -> tuple[str | None, dict[str, Any] | None]:
    """(``responseMimeType``, ``responseSchema``) for the task, or (None, None) for plain text."""
    kind = task.kind.value
    if kind == "detect":
        return "application/json", _objects_schema(task, "box_2d", 4)
    if kind == "point":
        return "application/json", _objects_schema(task, "point", 2)
    if kind == "classify" and task.classes:
        if task.multi_label:
            item: dict[str, Any] = _label_schema(task)
            if task.with_confidence:
                item = {
                    "type": "OBJECT",
                    "properties": {"label": _label_schema(task), "confidence": {"type": "NUMBER"}},
                    "required": ["label", "confidence"],
                    "propertyOrdering": ["label", "confidence"],
                }
            return "application/json", {"type": "ARRAY", "items": item}
        if task.with_confidence:
            return "application/json", {
                "type": "OBJECT",
                "properties": {"label": _label_schema(task), "confidence": {"type": "NUMBER"}},
                "required": ["label", "confidence"],
                "propertyOrdering": ["label", "confidence"],
            }
        return "text/x.enum", _label_schema(task)
    if kind == "classify" and task.multi_label:
        return "application/json", {"type": "ARRAY", "items": {"type": "STRING"}}
    # segmentation, captions, questions, comparisons, open single-label classification
    return None, None
