"""FiftyOne operators of the @gemini-vision/gemini plugin (thin: forms, secrets, progress)."""

from __future__ import annotations

from typing import Any

from .audit import AuditGroundTruth
from .cache import ClearCachedAnswers
from .comparison import CompareModels
from .evaluation import EvaluateAgainstGroundTruth
from .launchers import AskAboutSample, GeminiTasks
from .panel import GeminiPanel
from .run_actions import DeleteGeminiRun
from .selection import AskAboutSelection
from .task_operators import TASK_OPERATORS

OPERATORS = (
    *TASK_OPERATORS,
    AskAboutSelection,
    EvaluateAgainstGroundTruth,
    ClearCachedAnswers,
    GeminiTasks,
    AskAboutSample,
    DeleteGeminiRun,
    CompareModels,
    AuditGroundTruth,
)
PANELS = (GeminiPanel,)


def register(plugin: Any) -> None:
    """Registers every operator and panel listed in ``fiftyone.yml``."""
    for operator in (*OPERATORS, *PANELS):
        plugin.register(operator)
