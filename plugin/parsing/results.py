"""The typed results of parsing a model answer (no logic beyond small conveniences).

Conventions: ``box_2d`` is ``(ymin, xmin, ymax, xmax)`` and ``point`` is ``(y, x)``, both on
0-1000 of the image that was sent, y first, exactly like Gemini writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemini_vision.parsing.labelmap import LabelMatch
from gemini_vision.parsing.masks import MaskData

__all__ = [
    "PARSER_VERSION",
    "Box",
    "DroppedItem",
    "MaskData",
    "ParseResult",
    "ParsedObject",
    "Point",
]

PARSER_VERSION = 1


Box = tuple[float, float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class ParsedObject:
    """One object the model reported. ``box_2d`` = (ymin, xmin, ymax, xmax), ``point`` = (y, x),
    both on 0-1000 of the sent image; ``confidence`` in [0, 1] when the model gave one."""

    label: str
    box_2d: Box | None = None
    point: Point | None = None
    mask: MaskData | None = None
    confidence: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: the label exactly as the model wrote it (None when it wrote none)
    raw_label: str | None = None
    #: how ``label`` was mapped onto the requested classes (set by ``tasks.interpret_answer``)
    label_match: LabelMatch | None = None


@dataclass(frozen=True)
class DroppedItem:
    """An item that could not become an object: why, and its JSON (or raw text)."""

    reason: str
    raw: str


@dataclass(frozen=True)
class ParseResult:
    """Objects parsed from one answer, and everything that was repaired, dropped or doubtful."""

    objects: tuple[ParsedObject, ...]
    raw_text: str
    #: the output was cut short (maxOutputTokens); complete items were kept
    truncated: bool = False
    dropped: tuple[DroppedItem, ...] = ()
    warnings: tuple[str, ...] = ()
    #: (first, later) index pairs of objects with identical boxes (or points)
    duplicates: tuple[tuple[int, int], ...] = ()
    #: items lost to truncation (cut off mid-item)
    lost_items: int = 0
    parser_version: int = PARSER_VERSION

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objects]
