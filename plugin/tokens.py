"""Token estimates for images and text, by the rules Google documents.

- Gemini 2.x (and 1.5): an image costs 258 tokens when both sides are ≤ 384 px; a larger one
  is tiled into 768×768 tiles at 258 tokens each: ``ceil(w/768) * ceil(h/768) * 258``.
- ``mediaResolution`` on 2.x: LOW = 64 tokens per image, MEDIUM and HIGH = 256.
- Gemini 3 bills an image by its media resolution, whatever its size: LOW 280, MEDIUM 560,
  HIGH 1120 (the default for images), ULTRA_HIGH 2240.
- Text: about four characters per token.

These are estimates for cost previews; ``countTokens`` and ``usageMetadata`` are exact.
"""

from __future__ import annotations

import math

from .catalog import model_spec

__all__ = ["estimate_image_tokens", "estimate_text_tokens", "normalize_media_resolution"]

TOKENS_PER_TILE = 258
TILE_SIDE = 768
SMALL_IMAGE_SIDE = 384

_GEMINI2_RESOLUTION_TOKENS = {"LOW": 64, "MEDIUM": 256, "HIGH": 256}
_GEMINI3_RESOLUTION_TOKENS = {"LOW": 280, "MEDIUM": 560, "HIGH": 1120, "ULTRA_HIGH": 2240}


def normalize_media_resolution(value: str | None) -> str | None:
    """``"media_resolution_low"``, ``"low"`` or ``"MEDIA_RESOLUTION_LOW"`` → ``"LOW"``."""
    if value is None:
        return None
    level = value.strip().upper().removeprefix("MEDIA_RESOLUTION_")
    return None if level in ("", "UNSPECIFIED") else level


def estimate_image_tokens(
    width: int,
    height: int,
    *,
    model: str = "gemini-2.5-flash",
    media_resolution: str | None = None,
) -> int:
    """Prompt tokens one image of ``width`` × ``height`` pixels costs on ``model``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    level = normalize_media_resolution(media_resolution)
    if model_spec(model).media_resolution_tokens:
        return _GEMINI3_RESOLUTION_TOKENS.get(level or "HIGH", _GEMINI3_RESOLUTION_TOKENS["HIGH"])
    if level in _GEMINI2_RESOLUTION_TOKENS:
        return _GEMINI2_RESOLUTION_TOKENS[level]
    if width <= SMALL_IMAGE_SIDE and height <= SMALL_IMAGE_SIDE:
        return TOKENS_PER_TILE
    return math.ceil(width / TILE_SIDE) * math.ceil(height / TILE_SIDE) * TOKENS_PER_TILE


def estimate_text_tokens(text: str) -> int:
    """About one token per four characters (never zero for non-empty text)."""
    return math.ceil(len(text) / 4) if text else 0
