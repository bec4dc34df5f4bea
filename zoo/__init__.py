"""Gemini as a FiftyOne zoo model: the entry points of this remote model source.

::

    import fiftyone.zoo as foz

    foz.register_zoo_model_source("https://github.com/gemini-vision/fiftyone-gemini-vision")
    model = foz.load_zoo_model("gemini-2.5-flash", task="detect", classes=["cat", "dog"])
    dataset.apply_model(model, label_field="gemini", batch_size=16)

The model runs in Google's cloud, so there are no weights: :func:`download_model` records which
Gemini model the zoo entry names, and :func:`load_model` returns the plugin's
:class:`gemini_vision.GeminiModel` for it. Every keyword of ``load_zoo_model`` goes to it: the
task (``detect``, ``segment``, ``point``, ``classify``, ``caption``, ``ask``) and its options
(``classes``, ``prompt``, ``question``, ``max_objects``...), ``max_image_side``, ``concurrency``,
and the backend (``api_key``, ``base_url``; or ``vertexai``, ``project``, ``location``,
``credentials``), read from the environment as everywhere else when not given.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: keywords load_zoo_model may add that are FiftyOne's, not the model's
_ZOO_KEYWORDS = ("install_requirements", "error_level", "cache", "overwrite")
#: what a zoo model can do (one image at a time, as apply_model hands them over)
TASKS = ("detect", "segment", "point", "classify", "caption", "ask")


def download_model(model_name: str, model_path: str) -> None:
    """Writes ``model_path``: which Gemini model this entry runs (there is nothing else)."""
    os.makedirs(os.path.dirname(model_path) or ".", exist_ok=True)
    with open(model_path, "w") as out:
        json.dump({"gemini_model": _gemini_model(model_name)}, out)


def load_model(model_name: str, model_path: str | None = None, **kwargs: Any) -> Any:
    """The :class:`gemini_vision.GeminiModel` of ``model_name`` with ``kwargs``."""
    try:
        from gemini_vision import GeminiModel
    except ImportError as exc:
        raise ImportError(
            "the Gemini zoo models need the gemini-vision-fiftyone package: "
            "`pip install gemini-vision-fiftyone` (or load_zoo_model(..., "
            "install_requirements=True))"
        ) from exc
    options = {k: v for k, v in kwargs.items() if k not in _ZOO_KEYWORDS}
    task = options.pop("task", "detect")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    return GeminiModel(task, model=_gemini_model(model_name), **options)


def _gemini_model(model_name: str) -> str:
    """``gemini-2.5-flash`` from the zoo name (which may carry a source prefix or version)."""
    return model_name.rsplit("/", 1)[-1].split("@", 1)[0]
