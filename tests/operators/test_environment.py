"""A setting in the environment that cannot be read never unregisters the plugin: it falls back
to its default, and the forms say what was wrong."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from support import ROOT
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.executor import ExecutionContext  # noqa: E402

PLUGIN = "@gemini-vision/gemini"
MANIFEST = yaml.safe_load((ROOT / "fiftyone.yml").read_text("utf-8"))
#: every operator and panel the manifest lists
OPERATORS = set(MANIFEST["operators"]) | set(MANIFEST["panels"])


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(2, seed=3)


def form_text(operator: Any, dataset: Any) -> str:
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": {}})
    return str(operator.resolve_input(ctx).to_json())


SETTINGS = [
    "GEMINI_VISION_DELEGATION_THRESHOLD",
    "GEMINI_VISION_COST_WARNING_USD",
    "GEMINI_VISION_REQUEST_DEADLINE",
    "GEMINI_VISION_MAX_ANSWER_BYTES",
    "GEMINI_VISION_MAX_RETRY_WAIT",
]


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("value", ["abc", "-3", "nan", "1e999"])
def test_a_bad_setting_leaves_every_operator_registered_and_the_form_says_why(
    name: str, value: str, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    registry = foo.OperatorRegistry()
    ours = {o.uri.split("/")[-1] for o in registry.list_operators() if o.uri.startswith(PLUGIN)}
    assert ours == OPERATORS
    assert [e for e in registry.list_errors() if "gemini" in str(e).lower()] == []
    text = form_text(foo.get_operator(f"{PLUGIN}/detect_objects"), dataset)
    assert name in text and "using the default" in text


def test_good_settings_raise_no_notice(dataset: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_VISION_DELEGATION_THRESHOLD", "250")
    text = form_text(foo.get_operator(f"{PLUGIN}/detect_objects"), dataset)
    assert "GEMINI_VISION_DELEGATION_THRESHOLD" not in text


@pytest.mark.usefixtures("plugin_env")
def test_the_answer_size_limit_reaches_the_run(
    datasets: DatasetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GEMINI_VISION_MAX_ANSWER_BYTES is the run's limit: each answer past it (a detection
    answer is well over 300 bytes) fails its sample with the limit named, and the run goes on."""
    monkeypatch.setenv("GEMINI_VISION_MAX_ANSWER_BYTES", "300")
    dataset = datasets.scenes(2, seed=4)
    foo.execute_operator(
        f"{PLUGIN}/detect_objects",
        ctx={"dataset": dataset, "params": {"label_field": "pred", "target": "DATASET"}},
    )
    dataset.reload()
    errors = dataset.values("pred_error")
    assert len(errors) == 2
    assert all("larger than 0.0003 MB" in error for error in errors), errors
