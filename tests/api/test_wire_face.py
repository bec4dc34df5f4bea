"""``gemini_vision.api.wire`` is one namespace, whatever module of the package defines a model."""

from __future__ import annotations

import importlib
import pkgutil

from gemini_vision.api import wire


def test_the_wire_face_exports_every_public_name_of_its_modules() -> None:
    for info in pkgutil.iter_modules(wire.__path__):
        module = importlib.import_module(f"{wire.__name__}.{info.name}")
        for name in module.__all__:
            assert getattr(wire, name) is getattr(module, name), f"{info.name}.{name}"
            assert name in wire.__all__, f"{info.name}.{name}"
