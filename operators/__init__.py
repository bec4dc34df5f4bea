"""FiftyOne operators of the @gemini-vision/gemini plugin (thin: forms, secrets, progress)."""

from __future__ import annotations

from typing import Any

from .cache import ClearCachedAnswers
from .evaluation import EvaluateAgainstGroundTruth
from .selection import AskAboutSelection
from .task_operators import TASK_OPERATORS

OPERATORS = (*TASK_OPERATORS, AskAboutSelection, EvaluateAgainstGroundTruth, ClearCachedAnswers)


def register(plugin: Any) -> None:
    """Registers every operator listed in ``fiftyone.yml``."""
    for operator in OPERATORS:
        plugin.register(operator)
