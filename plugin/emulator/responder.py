"""Answers generateContent requests by looking at the images (placeholder until the vision
backend lands: it only counts the images it received)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image

from ..wire import GenerateContentRequest


@dataclass(frozen=True)
class Reply:
    """The model's answer text, in Gemini's output format, and the task it recognised."""

    text: str
    kind: str = "text"


def respond(
    request: GenerateContentRequest,
    images: list[Image.Image],
    *,
    model: str,
    rng: random.Random,
) -> Reply:
    return Reply(text=f"I see {len(images)} image(s).")
