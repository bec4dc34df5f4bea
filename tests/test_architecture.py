"""The package's shape, held by tests: the FiftyOne boundary, one face per subsystem, sizes.

- Every module that imports ``fiftyone``, ``pymongo`` or ``bson`` lives in ``adapters/``, and
  importing any other subpackage (every module of it) in a fresh interpreter loads none of them.
- The adapters' docstring names each of its modules, so the list a reader sees is the truth.
- No function over 60 lines, no module over 500.
- The distribution lists every subpackage, so a non-editable install has the whole engine.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import support
import tomllib

PLUGIN = support.ROOT / "plugin"
OPERATORS = support.ROOT / "operators"
FIFTYONE_SIDE = ("fiftyone", "pymongo", "bson", "mongoengine", "motor")
#: every subpackage (and top-level module) that must work without FiftyOne
PURE = (
    "gemini_vision",
    "gemini_vision.errors",
    "gemini_vision.catalog",
    "gemini_vision.settings",
    "gemini_vision.compat",
    "gemini_vision.api",
    "gemini_vision.images",
    "gemini_vision.tasks",
    "gemini_vision.parsing",
    "gemini_vision.geometry",
    "gemini_vision.engine",
    "gemini_vision.emulator",
    "gemini_vision.demo",
)
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
#: (module path, function): allowed to be longer than MAX_FUNCTION_LINES (none)
LONG_FUNCTIONS_ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PLUGIN).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("gemini_vision", *parts))


def engine_modules() -> list[Path]:
    return sorted(PLUGIN.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth of its code."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_adapters_import_fiftyone_pymongo_or_bson() -> None:
    outside = {
        str(path.relative_to(PLUGIN)): sorted(imported_roots(path) & set(FIFTYONE_SIDE))
        for path in engine_modules()
        if "adapters" not in path.relative_to(PLUGIN).parts
    }
    assert {path: roots for path, roots in outside.items() if roots} == {}


def test_importing_every_pure_module_loads_no_fiftyone_in_a_fresh_interpreter() -> None:
    pure_modules = [
        module_name(path)
        for path in engine_modules()
        if "adapters" not in path.relative_to(PLUGIN).parts and path.name != "__main__.py"
    ]
    assert set(PURE) <= set(pure_modules)
    probe = (
        "import importlib, json, sys\n"
        f"for name in {pure_modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {FIFTYONE_SIDE!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_adapters_docstring_names_every_adapter_module() -> None:
    adapters = PLUGIN / "adapters"
    doc = ast.get_docstring(ast.parse((adapters / "__init__.py").read_text("utf-8"))) or ""
    listed = {line.split()[0] for line in doc.splitlines() if line.startswith("    ")}
    modules = {p.stem for p in adapters.glob("*.py") if p.name != "__init__.py"}
    assert listed == modules


def test_every_module_importing_fiftyone_is_named_in_the_package_docstring_room() -> None:
    """The engine's own docstring says where FiftyOne lives; every such module is there."""
    doc = ast.get_docstring(ast.parse((PLUGIN / "__init__.py").read_text("utf-8"))) or ""
    assert "adapters/" in doc and "fiftyone" in doc
    fiftyone_modules = [
        path.relative_to(PLUGIN).parts[0]
        for path in engine_modules()
        if imported_roots(path) & set(FIFTYONE_SIDE)
    ]
    assert fiftyone_modules and set(fiftyone_modules) == {"adapters"}


def _function_lengths(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    return [
        (node.end_lineno - node.lineno + 1, node.name)  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


@pytest.mark.parametrize("root", [PLUGIN, OPERATORS], ids=["plugin", "operators"])
def test_functions_stay_short_and_modules_small(root: Path) -> None:
    long_functions = []
    big_modules = []
    for path in sorted(root.rglob("*.py")):
        where = str(path.relative_to(root))
        for length, name in _function_lengths(path):
            if length > MAX_FUNCTION_LINES and (where, name) not in LONG_FUNCTIONS_ALLOWED:
                long_functions.append(f"{where}:{name} ({length} lines)")
        lines = len(path.read_text("utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            big_modules.append(f"{where} ({lines} lines)")
    assert long_functions == []
    assert big_modules == []


def test_the_distribution_lists_every_subpackage() -> None:
    config = tomllib.loads((support.ROOT / "pyproject.toml").read_text("utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {module_name(init) for init in PLUGIN.rglob("__init__.py")}
    assert listed == on_disk
