"""Vision tasks: what to ask Gemini, how to ask it, and how to read the answer.

A :class:`TaskSpec` says *what* (caption, classify, ask, detect, segment, point, compare, with
classes, a target, a question...). :func:`build_request` turns it plus image parts into a
``generateContent`` request with settings that suit the task and the model family:

- the prompt goes **after** the image parts, as Google's "Image understanding" guide advises;
- spatial tasks (detect, segment, point) use the family's spatial temperature
  (``ModelSpec.spatial_temperature`` in :mod:`gemini_vision.catalog`: 0.5 on 2.x, the model's
  default on Gemini 3);
- thinking as low as the model allows for labelling tasks (``thinkingBudget`` 0 on 2.5 Flash;
  the minimum, 128, on 2.5 Pro; the lowest ``thinkingLevel`` on 3.x; nothing on 2.0), as
  Google's "Image understanding" guide turns thinking off for better detection results;
  questions and comparisons keep the model's default thinking;
- ``BLOCK_ONLY_HIGH`` for dangerous content, as the Gemini cookbook's "Spatial understanding"
  notebook sets it;
- ``maxOutputTokens`` sized for the task (25 PNG masks need ~25k tokens), never above the
  model's own limit (``ModelSpec.max_output_tokens``). Thinking tokens count against it, so
  tasks that keep default thinking get no cap unless one is given, and a ``thinkingLevel``
  adds ``LEVEL_THINKING_ALLOWANCE``.

:func:`interpret_answer` reads the answer with the right parser and maps labels onto the
requested classes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeAlias

from gemini_vision.api import wire
from gemini_vision.catalog import (
    DEFAULT_MODEL,
    LEVEL_THINKING_ALLOWANCE,
    ModelSpec,
    model_spec,
    normalize_media_resolution,
)
from gemini_vision.errors import ConfigurationError
from gemini_vision.parsing import (
    ClassificationResult,
    LabelMapper,
    ParseResult,
    TextAnswer,
    clean_label,
    parse_classification,
    parse_detections,
    parse_free_text,
    parse_points,
)
from gemini_vision.tasks.prompts import PROMPTS_VERSION, prompt_text, response_format

__all__ = [
    "Answer",
    "TaskKind",
    "TaskSpec",
    "build_request",
    "check_model_supports",
    "generation_defaults",
    "interpret_answer",
]


class TaskKind(str, enum.Enum):
    CAPTION = "caption"
    CLASSIFY = "classify"
    ASK = "ask"
    DETECT = "detect"
    SEGMENT = "segment"
    POINT = "point"
    COMPARE = "compare"

    @property
    def spatial(self) -> bool:
        """Answers with coordinates (0-1000, y first) in the frame of the one sent image."""
        return self in (TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.POINT)


#: what :func:`interpret_answer` returns: objects, classes, or text
Answer: TypeAlias = ParseResult | ClassificationResult | TextAnswer

CAPTION_DETAILS = ("short", "detailed")
SAFETY_SETTINGS = (("HARM_CATEGORY_DANGEROUS_CONTENT", "BLOCK_ONLY_HIGH"),)
#: output tokens an answer needs: a fixed part plus one share per object (a 256x256 PNG mask
#: is ~1 kB of base64; a box with a long descriptive label ~60 tokens)
_TOKENS_BASE = 256
_TOKENS_PER_OBJECT = {TaskKind.DETECT: 96, TaskKind.SEGMENT: 1024, TaskKind.POINT: 48}


@dataclass(frozen=True)
class TaskSpec:
    """What to ask. Immutable; :meth:`fingerprint` changes whenever the request would.

    ``classes`` constrain labels (detect/segment/point/classify); ``target`` is free text for
    what to find ("the red mug"); ``question`` is for ask/compare; ``prompt`` replaces the
    generated prompt text entirely (the response schema still applies); ``detail`` is the
    caption length ("short" or "detailed").
    """

    kind: TaskKind
    classes: tuple[str, ...] | None = None
    multi_label: bool = False
    target: str | None = None
    max_objects: int = 25
    question: str | None = None
    prompt: str | None = None
    with_confidence: bool = False
    detail: str = "short"
    #: extra names for classes, used when mapping labels (not sent; not in the fingerprint)
    synonyms: Mapping[str, str] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            kind = TaskKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in TaskKind)
            raise ConfigurationError(f"unknown task {self.kind!r}; use one of: {known}") from None
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "classes", _clean_classes(self.classes))
        for name in ("target", "question", "prompt"):
            value = getattr(self, name)
            object.__setattr__(self, name, value.strip() or None if value else None)
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.max_objects, int) or self.max_objects < 1:
            raise ConfigurationError(f"max_objects must be a positive integer: {self.max_objects}")
        if self.multi_label and self.kind is not TaskKind.CLASSIFY:
            raise ConfigurationError("multi_label applies to the classify task only")
        if self.kind is TaskKind.ASK and not (self.question or self.prompt):
            raise ConfigurationError("the ask task needs a question")
        if self.detail not in CAPTION_DETAILS:
            raise ConfigurationError(f"detail must be one of {CAPTION_DETAILS}: {self.detail!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for run records); :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["classes"] = list(self.classes) if self.classes is not None else None
        data["synonyms"] = dict(self.synonyms) if self.synonyms else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def fingerprint(self) -> str:
        """A stable hash of everything in this task that changes the request (prompt wording,
        schema, classes, limits...). Combine it with the model and settings for a cache key."""
        mime, schema = response_format(self)
        payload = {
            "prompts_version": PROMPTS_VERSION,
            "task": {k: v for k, v in self.to_dict().items() if k != "synonyms"},
            "prompt": prompt_text(self),
            "response_mime_type": mime,
            "response_schema": schema,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _clean_classes(classes: Any) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = [c for c in classes.split(",")]
    cleaned = tuple(dict.fromkeys(clean_label(c) for c in classes if clean_label(c)))
    if not cleaned:
        return None
    return cleaned


# --------------------------------------------------------------------------------------------
# Requests


def check_model_supports(task: TaskSpec, model: str) -> ModelSpec:
    """The model's spec; raises ConfigurationError if it cannot do the task."""
    spec = model_spec(model)
    if task.kind is TaskKind.SEGMENT and not spec.supports_segmentation:
        family = {"3": "Gemini 3.x", "2.0": "Gemini 2.0"}.get(spec.family, spec.model_id)
        raise ConfigurationError(
            f"{spec.model_id} cannot segment: {family} models return no instance masks. "
            f"Use {DEFAULT_MODEL} (thinking off) for segmentation, or run detection instead."
        )
    return spec


def _thinking(task: TaskSpec, spec: ModelSpec) -> wire.ThinkingConfig | None:
    if task.kind in (TaskKind.ASK, TaskKind.COMPARE):
        return None  # reasoning questions keep the model's own thinking
    if spec.thinking_control == "budget":
        return wire.ThinkingConfig(thinking_budget=spec.min_thinking_budget)
    if spec.thinking_control == "level":
        return wire.ThinkingConfig(thinking_level=(spec.min_thinking_level or "low").upper())
    return None


def _output_tokens(
    task: TaskSpec, spec: ModelSpec, thinking: wire.ThinkingConfig | None
) -> int | None:
    if thinking is None and spec.thinking_control is not None:
        return None  # default thinking: its tokens count against the cap; do not starve it
    if task.kind in _TOKENS_PER_OBJECT:
        tokens = _TOKENS_BASE + _TOKENS_PER_OBJECT[task.kind] * task.max_objects
    elif task.kind is TaskKind.CLASSIFY:
        tokens = _TOKENS_BASE + 16 * len(task.classes or ())
    elif task.kind is TaskKind.CAPTION:
        tokens = 256 if task.detail == "short" else 2048
    else:
        return None
    if thinking is not None:
        tokens += thinking.thinking_budget or 0
        if thinking.thinking_level is not None:
            tokens += LEVEL_THINKING_ALLOWANCE
    return min(tokens, spec.max_output_tokens)


def _temperature(task: TaskSpec, spec: ModelSpec) -> float | None:
    """The family's spatial temperature for spatial tasks; None (the model's default) else."""
    return spec.spatial_temperature if task.kind.spatial else None


def generation_defaults(task: TaskSpec, model: str) -> dict[str, Any]:
    """The settings :func:`build_request` would choose for ``task`` on ``model`` (for display)."""
    spec = model_spec(model)
    thinking = _thinking(task, spec)
    return {
        "temperature": _temperature(task, spec),
        "thinking": thinking.to_wire() if thinking else None,
        "max_output_tokens": _output_tokens(task, spec, thinking),
    }


def build_request(
    task: TaskSpec,
    image_parts: Sequence[wire.Part],
    *,
    model: str,
    temperature: float | None = None,
    max_output_tokens: int | None = None,
    media_resolution: str | None = None,
    seed: int | None = None,
    system_instruction: str | None = None,
    thinking_budget: int | None = None,
) -> wire.GenerateContentRequest:
    """The ``generateContent`` body for ``task`` on ``model``: images first, then the prompt.

    Explicit arguments override the task defaults (see the module docstring);
    ``thinking_budget`` (tokens, -1: the model decides) applies to models with a thinking
    budget (Gemini 2.5). Raises
    ConfigurationError for an impossible combination (segmentation on Gemini 3, no image, a
    spatial task with several images, an unknown media resolution).
    """
    spec = check_model_supports(task, model)
    _check_images(task, image_parts)
    mime, schema = response_format(task)
    thinking = _thinking(task, spec)
    if thinking_budget is not None and spec.thinking_control == "budget":
        # a negative budget: the model's own dynamic thinking (no thinkingConfig at all)
        thinking = (
            wire.ThinkingConfig(thinking_budget=thinking_budget) if thinking_budget >= 0 else None
        )
    if max_output_tokens:
        # above the model's limit the API answers 400
        max_output_tokens = min(max_output_tokens, spec.max_output_tokens)
    config = wire.GenerationConfig(
        temperature=temperature if temperature is not None else _temperature(task, spec),
        max_output_tokens=max_output_tokens or _output_tokens(task, spec, thinking),
        response_mime_type=mime,
        response_schema=schema,
        thinking_config=thinking,
        media_resolution=_media_resolution(media_resolution),
        seed=seed,
    )
    parts = [*image_parts, wire.Part.from_text(prompt_text(task))]
    return wire.GenerateContentRequest(
        contents=[wire.Content(role="user", parts=parts)],
        system_instruction=(
            wire.Content(parts=[wire.Part.from_text(system_instruction)])
            if system_instruction
            else None
        ),
        safety_settings=[wire.SafetySetting(category=c, threshold=t) for c, t in SAFETY_SETTINGS],
        generation_config=config,
    )


def _check_images(task: TaskSpec, image_parts: Sequence[wire.Part]) -> None:
    """Raises ConfigurationError unless the parts hold as many images as the task takes."""
    images = sum(1 for p in image_parts if p.inline_data is not None or p.file_data is not None)
    if images == 0:
        raise ConfigurationError("the request has no image part")
    if task.kind is TaskKind.COMPARE and images < 2:
        raise ConfigurationError(f"compare needs at least two images, got {images}")
    if task.kind.spatial and images > 1:
        raise ConfigurationError(
            f"{task.kind.value} takes one image per request (coordinates are relative to it); "
            f"got {images}"
        )


def _media_resolution(value: str | None) -> str | None:
    level = normalize_media_resolution(value)
    if level is None:
        return None
    if level not in ("LOW", "MEDIUM", "HIGH"):
        raise ConfigurationError(
            f"media_resolution must be low, medium or high for the whole request: {value!r}"
        )
    return f"MEDIA_RESOLUTION_{level}"


# --------------------------------------------------------------------------------------------
# Answers


def _default_label(task: TaskSpec) -> str:
    """The label of an object the model did not name: the only class, or the free-text target
    when there is no class list (with several classes, none can be guessed)."""
    if task.classes:
        return task.classes[0] if len(task.classes) == 1 else ""
    return task.target or ""


def interpret_answer(task: TaskSpec, text: str, *, mapper: LabelMapper | None = None) -> Answer:
    """The answer to ``task`` read from the model's ``text``.

    Spatial tasks → :class:`~gemini_vision.parsing.ParseResult` whose objects carry
    ``label_match`` (and ``label`` set to the matched class when classes were given; the raw
    label otherwise); classify → :class:`~gemini_vision.parsing.ClassificationResult`;
    caption/ask/compare → :class:`~gemini_vision.parsing.TextAnswer`. Raises
    :class:`~gemini_vision.errors.ParseError` (with the raw text).
    """
    if task.kind in (TaskKind.CAPTION, TaskKind.ASK, TaskKind.COMPARE):
        return parse_free_text(text)
    mapper = mapper or LabelMapper(task.classes, task.synonyms)
    if task.kind is TaskKind.CLASSIFY:
        return parse_classification(
            text, task.classes, multi_label=task.multi_label, mapper=mapper
        )
    parse = parse_points if task.kind is TaskKind.POINT else parse_detections
    result = parse(text, default_label=_default_label(task))
    objects = []
    unmapped = 0
    for obj in result.objects:
        match = mapper.map(obj.raw_label if obj.raw_label is not None else obj.label)
        unmapped += not match.mapped
        objects.append(replace(obj, label=match.label or obj.label, label_match=match))
    warnings = list(result.warnings)
    if unmapped:
        warnings.append(f"{unmapped} label(s) match none of the classes (kept, method unmapped)")
    if len(objects) > task.max_objects:
        warnings.append(f"{len(objects)} objects returned, more than the {task.max_objects} asked")
    if task.kind is TaskKind.SEGMENT:
        missing = sum(1 for o in objects if o.mask is None)
        if missing:
            warnings.append(f"{missing} object(s) came without a mask (box only)")
    return replace(result, objects=tuple(objects), warnings=tuple(warnings))
