"""Shared test set-up: an isolated FiftyOne database, the plugin dir, and a live emulator.

The environment is fixed before anything imports fiftyone: every test session gets its own
MongoDB database (``FIFTYONE_DATABASE_NAME``), dropped at the end, so parallel runs and other
FiftyOne processes of the same user never see each other's data.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from support import ROOT
from support.datasets import DatasetFactory

os.environ.setdefault("FIFTYONE_DATABASE_NAME", f"gemini_vision_test_{uuid.uuid4().hex[:12]}")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_PLUGINS_DIR"] = str(ROOT)
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
# the installation's secret (engine/uploads.py) lives in the session's own config folder
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="gemini-vision-config-")
# Tests never reach a real Gemini, and never read the developer's own key or Google Cloud
# configuration (gcloud's login included: its folder is an empty one of the session's).
for _name in (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_VERTEX_BASE_URL",
    "STORAGE_EMULATOR_HOST",
):
    os.environ.pop(_name, None)
os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="gemini-vision-gcloud-")


# CI explores the same examples every run (a fixed seed), so a landing never depends on luck;
# local runs draw new examples each time and keep finding new cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drops this session's database if any test touched FiftyOne."""
    import sys

    if "fiftyone" not in sys.modules:
        return
    import fiftyone.core.odm.database as fodb

    try:
        fodb.drop_database()
    except ConnectionError as exc:  # the shared mongod may already be shutting down
        name = os.environ["FIFTYONE_DATABASE_NAME"]
        print(f"\nnote: could not drop test database {name}: {exc}")


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetFactory]:
    """Builds FiftyOne datasets (scenes with ground truth, image files, given samples, clones);
    every one of them is deleted when the session ends. Fixtures of any scope use it; a test
    that changes a shared dataset works on ``datasets.clone(shared)``."""
    factory = DatasetFactory(tmp_path_factory.mktemp("datasets"))
    yield factory
    factory.close()


@pytest.fixture
def emulator() -> Iterator[object]:
    """A Gemini emulator on a real socket (127.0.0.1, free port), default knobs."""
    from gemini_vision.emulator import Emulator

    with Emulator() as server:
        yield server


@pytest.fixture(scope="module")
def gemini() -> Iterator[object]:
    """An emulator shared by the tests of one module."""
    from gemini_vision.emulator import Emulator

    with Emulator() as server:
        yield server


@pytest.fixture
def plugin_env(gemini: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What the plugin finds in the App's environment: a key (any value works with the
    emulator) and the emulator's base URL. Returns the emulator."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-plugin-0001")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini.base_url)
    return gemini
