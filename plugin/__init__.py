"""Gemini Vision for FiftyOne: the engine, importable as ``gemini_vision``.

::

    import gemini_vision as gv

    gv.run_task(dataset, gv.TaskSpec(kind="detect", classes=["cat"]), "gemini_detections")
    dataset.apply_model(gv.GeminiModel("caption"), label_field="gemini_caption")

The package is a house with one room per subsystem; each room's ``__init__`` is its public
face::

    errors     the one exception tree
    catalog    every published number: models, prices, tier quotas, token rules
    settings   RunSettings: how to run, built once and handed down whole
    api/       the Gemini REST API: clients, wire models, retries, the Files API
    images/    load, EXIF, convert, downscale, encode: what Gemini sees is what the App shows
    tasks/     what to ask (TaskSpec), in which words, and how to read the answer
    parsing/   model text -> typed results, total on any input
    geometry/  0-1000 boxes and points, PNG masks -> FiftyOne's frame and pixel extents
    engine/    many items through Gemini concurrently: pacing, caching, retries, Batch API
    emulator/  a local Gemini-compatible server (server/: the protocol; model/: what it says)
    demo/      the demo (``python -m gemini_vision.demo``) and its synthetic scenes
    adapters/  the FiftyOne side: the only modules that import fiftyone, pymongo or bson

Everything outside ``adapters/`` can be used without FiftyOne. The FiftyOne-facing names
below are imported on first use, so ``import gemini_vision`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from gemini_vision import compat

__version__ = "0.1.0"

_LAZY = {
    "AsyncGeminiClient": "gemini_vision.api",
    "GeminiClient": "gemini_vision.api",
    "GeminiModel": "gemini_vision.adapters.model",
    "RunSettings": "gemini_vision.settings",
    "RunSummary": "gemini_vision.adapters.summary",
    "TaskKind": "gemini_vision.tasks",
    "TaskSpec": "gemini_vision.tasks",
    "Variant": "gemini_vision.adapters.compare",
    "ask_about_samples": "gemini_vision.adapters.ask",
    "audit_ground_truth": "gemini_vision.adapters.audit",
    "compare_models": "gemini_vision.adapters.compare",
    "evaluate": "gemini_vision.adapters.evaluation",
    "run_task": "gemini_vision.adapters.runner",
}

__all__ = ["__version__", *_LAZY]

compat.install()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
