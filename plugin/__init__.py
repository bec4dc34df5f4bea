"""Gemini Vision for FiftyOne: the engine.

Importable as ``gemini_vision`` once the project is pip-installed; FiftyOne loads the same code
relatively, as a sub-package of the plugin. Modules that import ``fiftyone`` are the adapters
(labels, runner, model, evaluation, synthetic, demo); everything else is pure and can be used
without FiftyOne. The FiftyOne-facing names below are imported on first use::

    import gemini_vision as gv

    gv.run_task(dataset, gv.TaskSpec(kind="detect", classes=["cat"]), "gemini_detections")
    dataset.apply_model(gv.GeminiModel("caption"), label_field="gemini_caption")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "GeminiModel": ".model",
    "RunSettings": ".runner",
    "run_task": ".runner",
    "ask_about_samples": ".runner",
    "evaluate": ".evaluation",
    "TaskSpec": ".tasks",
    "TaskKind": ".tasks",
    "GeminiClient": ".client",
    "AsyncGeminiClient": ".client",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
