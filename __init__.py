"""FiftyOne's entry point for the @gemini-vision/gemini plugin: it only registers operators.

The operators import the engine absolutely, as ``gemini_vision``. When the project is
pip-installed that name resolves by itself; when FiftyOne loads this folder without an
install, the folder's ``plugin/`` directory is registered under that name first. Either way
the engine is loaded once, under one name, whoever imports it first.
"""

import importlib.util
import sys
from pathlib import Path

ENGINE = "gemini_vision"


def _make_engine_importable() -> None:
    if ENGINE in sys.modules or importlib.util.find_spec(ENGINE) is not None:
        return
    folder = Path(__file__).resolve().parent / "plugin"
    spec = importlib.util.spec_from_file_location(
        ENGINE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[ENGINE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[ENGINE]
        raise


_make_engine_importable()

from .operators import register  # noqa: E402  (needs the engine importable first)

__all__ = ["register"]
