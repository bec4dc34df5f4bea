"""The demo's App shows the Gemini operators, even when FiftyOne looks for plugins elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import support

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from gemini_vision.adapters import demo  # noqa: E402


def test_the_app_opened_by_the_demo_finds_the_operators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(tmp_path))  # somewhere without the plugin
    monkeypatch.setattr(fo.config, "plugins_dir", str(tmp_path))
    assert not [o for o in foo.OperatorRegistry().list_operators() if "gemini" in o.uri]
    said = demo.make_operators_available()
    assert str(support.ROOT) in said
    uris = {o.uri for o in foo.OperatorRegistry().list_operators()}
    assert f"{demo.PLUGIN_NAME}/detect_objects" in uris
    assert os.environ["FIFTYONE_PLUGINS_DIR"] == str(support.ROOT)  # for the App's server
