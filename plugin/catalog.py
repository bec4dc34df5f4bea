"""Every published number about Gemini models, in one place: families and capabilities,
thinking controls and allowances, request settings per family, list prices, quotas by tier and
the token rules for images and text.

The live API is the source of truth for which models exist (``models.list``); this table adds
what the API does not say: whether a model can segment, how its thinking is controlled, what it
costs and what a tier may send. Unknown model ids fall back to their family, guessed from the id.

- Prices are USD per million tokens for the standard tier (paid tier, prompts ≤ 200k tokens),
  as published on Google's "Gemini Developer API pricing" page; thinking tokens are billed as
  output. The Batch API costs half. Prices change: :func:`price_for` accepts overrides, and
  everything shown to users says "estimated".
- Quotas (requests and input tokens per minute) per model line and tier are those of Google's
  "Rate limits" page; free-tier numbers vary by account (AI Studio shows yours).
- Token rules (Google's "Understand and count tokens" guide): on Gemini 2.x an image costs 258
  tokens when both sides are ≤ 384 px, else 258 per 768×768 tile; ``mediaResolution`` on 2.x:
  LOW = 64, MEDIUM and HIGH = 256; Gemini 3 bills an image by its media resolution whatever its
  size (LOW 280, MEDIUM 560, HIGH 1120 - the default for images - ULTRA_HIGH 2240); text is
  about four characters per token. These are estimates; ``countTokens`` and ``usageMetadata``
  are exact.
- Spatial answers (boxes, masks, points) are asked at temperature 0.5 on Gemini 2.x, as the
  Gemini cookbook's "Spatial understanding" notebook does; Gemini 3 keeps its default, 1.0,
  which Google's "Gemini 3 Developer Guide" recommends keeping (lower values can make it loop).
- Coordinates: Gemini writes boxes (``box_2d``, y first) and points normalised to 0-1000 of the
  image it received; its segmentation masks are PNG probability maps (0-255) that Google's
  "Image understanding" guide binarizes at 127, the midpoint.
- Thinking tokens count against ``maxOutputTokens`` and are billed as output; the thinking
  numbers below are our estimates of how many a request uses, not published figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "COORD_SCALE",
    "DEFAULT_MODEL",
    "DYNAMIC_THINKING_TOKENS",
    "FALLBACK_MODELS",
    "LEVEL_THINKING_ALLOWANCE",
    "LEVEL_THINKING_TOKENS",
    "MASK_THRESHOLD",
    "TIERS",
    "TIER_LIMITS",
    "ModelSpec",
    "Price",
    "estimate_image_tokens",
    "estimate_text_tokens",
    "model_line",
    "model_spec",
    "normalize_media_resolution",
    "normalize_model_id",
    "price_for",
    "tier_quota",
]

DEFAULT_MODEL = "gemini-2.5-flash"

#: boxes and points come normalised to 0-COORD_SCALE of the image the model received
COORD_SCALE = 1000
#: a mask pixel is on when its probability (0-255) is strictly above this value
MASK_THRESHOLD = 127


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        usd = (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1e6
        return usd / 2 if batch else usd


@dataclass(frozen=True)
class ModelSpec:
    """Capabilities of one model (or of its family, for ids we do not list)."""

    model_id: str
    family: str  # "2.0", "2.5", "3", "robotics-er", "other"
    price: Price
    #: Gemini 2.5 returns per-object PNG masks; Gemini 3 does not segment
    supports_segmentation: bool
    #: "budget" (thinkingBudget, 2.5), "level" (thinkingLevel, 3.x) or None (no thinking)
    thinking_control: str | None
    #: the smallest thinking budget the model accepts (0 = thinking can be turned off)
    min_thinking_budget: int = 0
    #: the lowest thinkingLevel the model accepts
    min_thinking_level: str | None = None
    #: Gemini 3 bills images by media resolution, not by 768 px tiles
    media_resolution_tokens: bool = False
    #: the largest ``maxOutputTokens`` the model accepts (Gemini 2.0 and older: 8,192)
    max_output_tokens: int = 65536
    #: the temperature for spatial answers (boxes, masks, points); None keeps the model's own
    #: default (Gemini 3). See the module docstring.
    spatial_temperature: float | None = 0.5


_FLASH_25 = Price(0.30, 2.50)
_FLASH_LITE_25 = Price(0.10, 0.40)
_PRO_25 = Price(1.25, 10.00)
_FLASH_20 = Price(0.10, 0.40)
_FLASH_LITE_20 = Price(0.075, 0.30)
_FLASH_3 = Price(0.50, 3.00)
_FLASH_LITE_3 = Price(0.25, 1.50)
_PRO_3 = Price(2.00, 12.00)


def _spec_25(model_id: str, price: Price, min_budget: int = 0) -> ModelSpec:
    return ModelSpec(model_id, "2.5", price, True, "budget", min_thinking_budget=min_budget)


def _spec_3(model_id: str, price: Price, min_level: str = "low") -> ModelSpec:
    return ModelSpec(
        model_id,
        "3",
        price,
        False,
        "level",
        min_thinking_level=min_level,
        media_resolution_tokens=True,
        spatial_temperature=None,
    )


_KNOWN: dict[str, ModelSpec] = {
    spec.model_id: spec
    for spec in (
        _spec_25("gemini-2.5-flash", _FLASH_25),
        _spec_25("gemini-2.5-flash-lite", _FLASH_LITE_25),
        _spec_25("gemini-2.5-pro", _PRO_25, min_budget=128),
        _spec_25("gemini-flash-latest", _FLASH_25),
        _spec_25("gemini-flash-lite-latest", _FLASH_LITE_25),
        ModelSpec("gemini-2.0-flash", "2.0", _FLASH_20, False, None, max_output_tokens=8192),
        ModelSpec(
            "gemini-2.0-flash-lite", "2.0", _FLASH_LITE_20, False, None, max_output_tokens=8192
        ),
        _spec_3("gemini-3-flash-preview", _FLASH_3, min_level="minimal"),
        _spec_3("gemini-3.1-flash-lite", _FLASH_LITE_3, min_level="minimal"),
        _spec_3("gemini-3.1-pro-preview", _PRO_3),
        _spec_3("gemini-3.5-flash", _FLASH_3, min_level="minimal"),
        ModelSpec("gemini-robotics-er-1.6-preview", "robotics-er", _FLASH_25, True, "budget"),
    )
}

#: offered when the model list cannot be fetched (offline, no key): the vision-capable models
FALLBACK_MODELS: tuple[str, ...] = (
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
)


def normalize_model_id(model: str) -> str:
    """``models/gemini-2.5-flash`` → ``gemini-2.5-flash``; surrounding spaces removed."""
    return model.strip().removeprefix("models/")


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``; unknown ids get their family's behaviour, guessed from the id."""
    model_id = normalize_model_id(model)
    if model_id in _KNOWN:
        return _KNOWN[model_id]
    lite = "lite" in model_id
    if "robotics-er" in model_id:
        return ModelSpec(model_id, "robotics-er", _FLASH_25, True, "budget")
    match = re.match(r"gemini-(\d+)(?:\.(\d+))?", model_id)
    major, minor = (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)
    if major >= 3:
        price = _PRO_3 if "pro" in model_id else _FLASH_LITE_3 if lite else _FLASH_3
        return _spec_3(model_id, price, min_level="low" if "pro" in model_id else "minimal")
    if (major, minor) == (2, 5):
        if "pro" in model_id:
            return _spec_25(model_id, _PRO_25, min_budget=128)
        return _spec_25(model_id, _FLASH_LITE_25 if lite else _FLASH_25)
    price = _FLASH_LITE_20 if lite else _FLASH_20
    if major == 2:
        return ModelSpec(model_id, "2.0", price, False, None, max_output_tokens=8192)
    return ModelSpec(model_id, "other", _FLASH_25, False, None, max_output_tokens=8192)


def price_for(model: str, overrides: dict[str, Price] | None = None) -> Price:
    """The list price of ``model``, unless ``overrides`` names it."""
    model_id = normalize_model_id(model)
    if overrides and model_id in overrides:
        return overrides[model_id]
    return model_spec(model_id).price


# --------------------------------------------------------------------------------------------
# thinking

#: output tokens added to a request's ``maxOutputTokens`` when it sets a ``thinkingLevel``:
#: even the lowest level thinks a little, and those tokens count against the cap
LEVEL_THINKING_ALLOWANCE = 4096
#: thinking tokens one request typically uses with the model's own (dynamic) thinking, by model
#: family (``ModelSpec.family``); for cost estimates
DYNAMIC_THINKING_TOKENS: dict[str, int] = {"2.5": 800, "3": 1500}
#: thinking tokens one request typically uses at the lowest ``thinkingLevel`` values (upper
#: case, as sent); for cost estimates
LEVEL_THINKING_TOKENS: dict[str, int] = {"MINIMAL": 30, "LOW": 300}


# --------------------------------------------------------------------------------------------
# quotas by tier

#: tiers of the Gemini API (``free`` = no billing; ``tier1`` = billing linked; ...)
TIERS = ("free", "tier1", "tier2", "tier3")

#: (RPM, input TPM) per model line and tier, as last published by Google. ``None``: not
#: published - the rate limiter adapts to 429s instead.
TIER_LIMITS: dict[str, dict[str, tuple[int | None, int | None]]] = {
    "flash": {
        "free": (10, 250_000),
        "tier1": (1_000, 1_000_000),
        "tier2": (2_000, 3_000_000),
        "tier3": (10_000, 8_000_000),
    },
    "flash-lite": {"free": (15, 250_000), "tier1": (4_000, 4_000_000)},
    "pro": {"free": (5, 250_000), "tier1": (150, 2_000_000)},
}


def model_line(model: str) -> str:
    """The quota line of ``model``: ``flash``, ``flash-lite`` or ``pro``."""
    model = normalize_model_id(model)
    if "flash-lite" in model:
        return "flash-lite"
    return "pro" if "pro" in model else "flash"


def tier_quota(model: str, tier: str) -> tuple[int | None, int | None]:
    """(requests, input tokens) per minute that ``tier`` grants ``model`` (None: unpublished).

    ``tier`` is one of :data:`TIERS`, spelt loosely (``"Tier 1"``, ``"tier_1"``)."""
    name = tier.lower().replace(" ", "").replace("_", "")
    if name not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}")
    return TIER_LIMITS[model_line(model)].get(name, (None, None))


# --------------------------------------------------------------------------------------------
# token rules

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
