"""The module paths of the flat package of earlier releases still import - as the module that
holds that code today, the same object - with a DeprecationWarning naming the new path."""

from __future__ import annotations

import importlib
import sys

import pytest

from gemini_vision.compat import MOVED

PURE_MOVES = {old: new for old, new in MOVED.items() if not new.startswith("adapters")}


@pytest.mark.parametrize("old", sorted(PURE_MOVES))
def test_an_old_module_path_is_the_new_module(old: str) -> None:
    name = f"gemini_vision.{old}"
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=f"gemini_vision.{MOVED[old]}"):
        module = importlib.import_module(name)
    assert module is importlib.import_module(f"gemini_vision.{MOVED[old]}")


def test_the_old_engine_facade_still_offers_its_names() -> None:
    sys.modules.pop("gemini_vision.pipeline", None)
    with pytest.warns(DeprecationWarning):
        from gemini_vision.pipeline import (  # type: ignore[attr-defined]
            Engine,
            EngineReport,
            ItemOutcome,
            WorkItem,
            run_coroutine_sync,
        )
    from gemini_vision import engine

    assert (Engine, EngineReport, ItemOutcome, WorkItem, run_coroutine_sync) == (
        engine.Engine,
        engine.EngineReport,
        engine.ItemOutcome,
        engine.WorkItem,
        engine.run_coroutine_sync,
    )


def test_public_names_keep_working_from_the_package() -> None:
    import gemini_vision as gv

    assert callable(gv.run_task) and callable(gv.ask_about_samples) and callable(gv.evaluate)
    assert gv.RunSettings().model and gv.TaskSpec(kind="detect").kind is gv.TaskKind.DETECT
    assert gv.GeminiModel.__name__ == "GeminiModel"
    assert {"GeminiClient", "AsyncGeminiClient", "RunSummary"} <= set(gv.__all__)
