"""The module paths of earlier releases, kept working.

The engine was once a flat package (``gemini_vision.runner``, ``gemini_vision.pipeline``...).
Importing one of those names now gives the module that holds that code today - the same
module object, not a copy - with a :class:`DeprecationWarning` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path (below gemini_vision) -> where that code lives now
MOVED: dict[str, str] = {
    "batch": "engine.batch",
    "batch_jobs": "engine.batch_jobs",
    "cache": "engine.cache",
    "claims": "adapters.claims",
    "client": "api.client",
    "config": "api.config",
    "evaluation": "adapters.evaluation",
    "exif": "images.exif",
    "fields": "adapters.fields",
    "files": "api.files",
    "http_pool": "api.transport",
    "image_sources": "images.sources",
    "labelmap": "parsing.labelmap",
    "labels": "adapters.labels",
    "lenient_json": "parsing.json_scan",
    "lenient_parser": "parsing.json_reader",
    "mask_values": "parsing.masks",
    "model": "adapters.model",
    "models_list": "api.model_list",
    "outcomes": "engine.outcomes",
    "parsed": "parsing.results",
    "pipeline": "engine",
    "preview": "adapters.preview",
    "prompts": "tasks.prompts",
    "ratelimit": "engine.ratelimit",
    "request_builder": "engine.requests",
    "rest": "api.operations",
    "retry": "api.retry",
    "runner": "adapters",
    "runs": "adapters.runs",
    "scene_files": "demo.scene_files",
    "scenes": "demo.scenes",
    "spatial_items": "parsing.items",
    "store": "adapters.mongo",
    "synthetic": "adapters.synthetic",
    "text_answers": "parsing.text",
    "tokens": "catalog",
    "uploads": "engine.uploads",
    "wire": "api.wire",
    "work_source": "adapters.work_source",
    "writer": "adapters.labels",
    "emulator.api": "emulator.server.api",
    "emulator.batches": "emulator.server.batches",
    "emulator.bodies": "emulator.server.bodies",
    "emulator.faults": "emulator.server.faults",
    "emulator.files_api": "emulator.server.files_api",
    "emulator.generation": "emulator.server.generation",
    "emulator.intent": "emulator.model.intent",
    "emulator.language": "emulator.model.language",
    "emulator.png": "emulator.model.png",
    "emulator.responder": "emulator.model.responder",
    "emulator.rpc": "emulator.server.rpc",
    "emulator.schema_fit": "emulator.model.schema_fit",
    "emulator.state": "emulator.server.state",
    "emulator.transport": "emulator.server.transport",
    "emulator.vision": "emulator.model.vision",
}

_PACKAGE = __name__.rsplit(".", 1)[0]


class _Alias(importlib.abc.Loader):
    """Hands out the module that holds the code today under its old name."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its own name."""


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        old = fullname.removeprefix(_PACKAGE + ".")
        if old == fullname or old not in MOVED or MOVED[old] == old:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(f"{_PACKAGE}.{MOVED[old]}"))


def install() -> None:
    """Puts the finder of moved modules on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
