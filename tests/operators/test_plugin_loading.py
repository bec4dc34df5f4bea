"""The engine is loaded once, under one name, however the plugin is reached.

FiftyOne imports the plugin's entry module under a name of its own making
(``fiftyone.plugins.orgs...``); the operators import the engine absolutely as
``gemini_vision``. In a process that also does ``import gemini_vision`` - before or after
FiftyOne loads the plugin, installed or not - every engine module must exist once, so an
exception an operator raises is an instance of the class ``gemini_vision.errors`` exports.

Each case runs in a fresh interpreter on a copy of the plugin folder. "Not installed" removes
the editable install's import hook first, as on a machine that only downloaded the plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import support

pytestmark = pytest.mark.fiftyone

PROBE = r"""
import importlib, json, os, sys
if os.environ["PROBE_INSTALLED"] == "no":  # as if the package were not pip-installed
    sys.meta_path = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h)]
    sys.path_importer_cache.clear()
    assert importlib.util.find_spec("gemini_vision") is None
if os.environ["PROBE_ORDER"] == "engine-first":
    import gemini_vision.errors

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext

operator = foo.get_operator("@gemini-vision/gemini/classify_images")
errors = importlib.import_module("gemini_vision.errors")

dataset = fo.Dataset()
dataset.add_sample(fo.Sample(filepath="/nowhere/a.png"))
ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": {}})
try:
    result = operator.execute(ctx)
    list(result) if hasattr(result, "__next__") else result
    raised = None
except Exception as exc:
    raised = exc
dataset.delete()

folder = os.environ["PROBE_PLUGIN"]
engine = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if path.startswith(os.path.join(folder, "plugin")):
        engine.setdefault(path, set()).add(id(module))
print(json.dumps({
    "engine_file": sys.modules["gemini_vision"].__file__,
    "modules": len(engine),
    "duplicated": sorted(p for p, ids in engine.items() if len(ids) > 1),
    "relative_copies": sorted(
        n for n in sys.modules if n.startswith("fiftyone.plugins") and ".plugin." in n
    ),
    "raised": type(raised).__name__,
    "is_our_class": isinstance(raised, errors.ConfigurationError),
    "message": str(raised),
    "load_errors": [str(e) for e in foo.OperatorRegistry().list_errors()],
}))
"""


@pytest.fixture(scope="module")
def plugin_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin as ``fiftyone plugins download`` would leave it: its files, no install."""
    folder = tmp_path_factory.mktemp("plugins") / "gemini-vision"
    folder.mkdir()
    for name in ("__init__.py", "fiftyone.yml"):
        shutil.copy(support.ROOT / name, folder / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("operators", "plugin"):
        shutil.copytree(support.ROOT / name, folder / name, ignore=ignore)
    return folder


# without an install, `import gemini_vision` works once FiftyOne has loaded the plugin
@pytest.mark.parametrize(
    ("installed", "order"),
    [("no", "plugin-first"), ("yes", "plugin-first"), ("yes", "engine-first")],
)
def test_every_engine_module_exists_once_and_operator_errors_are_its_classes(
    plugin_copy: Path, installed: str, order: str
) -> None:
    env = dict(
        os.environ,
        FIFTYONE_PLUGINS_DIR=str(plugin_copy.parent),
        PROBE_PLUGIN=str(plugin_copy if installed == "no" else support.ROOT),
        PROBE_INSTALLED=installed,
        PROBE_ORDER=order,
        GEMINI_API_KEY="test-key-plugin-loading",
    )
    if installed == "yes":  # the installed package and the plugin folder are the same code
        env["FIFTYONE_PLUGINS_DIR"] = str(support.ROOT)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["load_errors"] == []
    assert report["engine_file"].startswith(env["PROBE_PLUGIN"])
    assert report["modules"] > 10 and report["duplicated"] == []
    assert report["relative_copies"] == []
    assert report["raised"] == "ConfigurationError" and report["is_our_class"], report
    assert "classes" in report["message"]
