"""Cost previews before a run: images to send, estimated tokens and price.

Image sizes come from FiftyOne's metadata when present, else from file headers (no decode), for
a sample of the images; tokens follow Google's rules (:mod:`.tokens`) at the size we would send;
output tokens are typical amounts per task. Everything is labelled as an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gemini_vision.adapters.fields import samples_to_process
from gemini_vision.catalog import (
    DYNAMIC_THINKING_TOKENS,
    LEVEL_THINKING_TOKENS,
    estimate_image_tokens,
    estimate_text_tokens,
    model_spec,
    price_for,
)
from gemini_vision.errors import ImageError
from gemini_vision.images import image_size
from gemini_vision.tasks import TaskKind, TaskSpec, generation_defaults, prompt_text

__all__ = ["CostPreview", "preview_cost", "typical_output_tokens"]

SAMPLE_SIZE = 25
#: typical answer lengths: tokens per answer, or per object for spatial tasks
_OUTPUT_TOKENS = {
    TaskKind.CAPTION: 60,
    TaskKind.ASK: 80,
    TaskKind.CLASSIFY: 8,
    TaskKind.COMPARE: 300,
}
#: segmentation: the masks in Google's recorded answers (tests/data/real-gemini) average about
#: 950 base64 characters per object, and base64 tokenizes at roughly two characters per token
_OUTPUT_TOKENS_PER_OBJECT = {TaskKind.DETECT: 30, TaskKind.POINT: 18, TaskKind.SEGMENT: 480}
_TYPICAL_OBJECTS = 6


@dataclass(frozen=True)
class CostPreview:
    model: str
    to_process: int
    skipped: int
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def batch_cost_usd(self) -> float:
        return self.cost_usd / 2

    def markdown(self) -> str:
        skipped = f" ({self.skipped} already done, skipped)" if self.skipped else ""
        return (
            f"**Estimate** for `{self.model}`: **{self.to_process}** images{skipped}, "
            f"~{self.input_tokens:,} input + ~{self.output_tokens:,} output tokens: "
            f"**~${self.cost_usd:.4f}** (Batch API: ~${self.batch_cost_usd:.4f})"
        )


def _sizes(collection: Any, limit: int) -> list[tuple[int, int]]:
    sample = collection.limit(limit) if collection.count() > limit else collection
    widths, heights, paths = sample.values(["metadata.width", "metadata.height", "filepath"])
    sizes = []
    for width, height, path in zip(widths, heights, paths, strict=True):
        if width and height:
            sizes.append((int(width), int(height)))
            continue
        try:
            sizes.append(image_size(path))
        except ImageError:
            continue
    return sizes


def _sent(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _thinking_tokens(task: TaskSpec, model: str) -> int:
    """Typical thinking tokens of one request for ``task`` on ``model`` (0 when it is off)."""
    spec = model_spec(model)
    if spec.thinking_control is None:
        return 0
    thinking = generation_defaults(task, model)["thinking"]
    if thinking is None:  # the model's own dynamic thinking
        return DYNAMIC_THINKING_TOKENS.get(spec.family, DYNAMIC_THINKING_TOKENS["2.5"])
    if "thinkingLevel" in thinking:
        return LEVEL_THINKING_TOKENS.get(str(thinking["thinkingLevel"]).upper(), 300)
    return int(thinking.get("thinkingBudget") or 0)


def typical_output_tokens(task: TaskSpec) -> int:
    """The answer tokens of one typical request for ``task`` (thinking not included)."""
    per_object = _OUTPUT_TOKENS_PER_OBJECT.get(task.kind)
    if per_object:
        return per_object * min(task.max_objects, _TYPICAL_OBJECTS)
    return _OUTPUT_TOKENS.get(task.kind, 50)


def preview_cost(collection: Any, task: TaskSpec, label_field: str, settings: Any) -> CostPreview:
    """Estimates what running ``task`` on ``collection`` would cost with ``settings``."""
    todo = samples_to_process(collection, label_field, settings.overwrite)
    count = todo.count()
    sizes = _sizes(todo, SAMPLE_SIZE) if count else []
    per_image = (
        sum(
            estimate_image_tokens(*_sent(s, settings.max_image_side), model=settings.model)
            for s in sizes
        )
        / len(sizes)
        if sizes
        else estimate_image_tokens(1024, 768, model=settings.model)
    )
    prompt = estimate_text_tokens(prompt_text(task))
    output = typical_output_tokens(task)
    input_tokens = math.ceil(count * (per_image + prompt))
    output_tokens = count * (output + _thinking_tokens(task, settings.model))
    price = price_for(settings.model)
    return CostPreview(
        model=settings.model,
        to_process=count,
        skipped=collection.count() - count,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=price.cost(input_tokens, output_tokens),
    )
