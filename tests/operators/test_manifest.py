"""The manifest and the code agree: every operator listed registers, and no other; the icons
the operators name ship with the plugin; the secrets they read are declared."""

from __future__ import annotations

from pathlib import Path

import pytest
import support
import yaml

pytestmark = pytest.mark.fiftyone

foo = pytest.importorskip("fiftyone.operators")

MANIFEST = yaml.safe_load((support.ROOT / "fiftyone.yml").read_text("utf-8"))
PLUGIN = MANIFEST["name"]


def our_operators() -> list[foo.Operator]:
    registry = foo.OperatorRegistry()
    return [o for o in registry.list_operators() if o.uri.startswith(f"{PLUGIN}/")]


def test_exactly_the_listed_operators_register() -> None:
    listed = MANIFEST["operators"] + MANIFEST["panels"]
    assert sorted(o.config.name for o in our_operators()) == sorted(listed)


def test_every_icon_an_operator_names_ships_with_the_plugin() -> None:
    for operator in our_operators():
        config = operator.config
        names = {config.icon, config.light_icon, config.dark_icon}
        assert None not in names, operator.uri
        for name in names:
            path = support.ROOT / Path(name).relative_to("/")
            assert path.is_file() and path.read_text("utf-8").lstrip().startswith("<svg"), name


def test_the_secrets_read_are_declared() -> None:
    assert {"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"} <= set(
        MANIFEST["secrets"]
    )
