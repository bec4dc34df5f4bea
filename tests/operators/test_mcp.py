"""The operators through the tool layer of Voxel51's MCP server (``fiftyone-mcp-server``), as
an AI assistant reaches them: list the operators, read a schema, run ``detect_objects`` on a
small dataset against the emulator, then run it again with bad inputs - each refused with
one sentence, nothing sent. The tools are called in-process (``ctx=None``: the SDK mode)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from support import ROOT, sent_requests
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

tools = pytest.importorskip("fiftyone_mcp.tools.operators")
skills_tools = pytest.importorskip("fiftyone.plugins.skills")

from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402

PLUGIN = "@gemini-vision/gemini"
DETECT = f"{PLUGIN}/detect_objects"
#: the operators that send no image anywhere
SEND_NOTHING = ("evaluate", "clear_cached", "delete_gemini_run", "gemini_tasks")


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(3, seed=31)


def execute(uri: str, dataset: Any, **params: Any) -> dict[str, Any]:
    return asyncio.run(tools.execute_operator(None, uri, params=params, dataset_name=dataset.name))


def test_an_assistant_finds_the_operators_and_what_they_send_where() -> None:
    listed = tools.list_operators(None)
    assert listed["success"]
    ours = {o["uri"]: o for o in listed["data"]["operators"] if o["uri"].startswith(PLUGIN)}
    manifest = yaml.safe_load((ROOT / "fiftyone.yml").read_text("utf-8"))
    assert set(ours) == {f"{PLUGIN}/{name}" for name in manifest["operators"] + manifest["panels"]}
    for uri, operator in ours.items():
        if uri.endswith("/gemini_panel"):
            continue  # the App's panel: nothing to call
        assert operator["label"].startswith("Gemini: "), uri
        description = operator["description"]
        if any(name in uri for name in SEND_NOTHING):
            assert "Sends nothing" in description, uri
        else:
            assert "Google's Gemini API" in description and "billed" in description, uri


def test_the_schema_says_what_to_send(dataset: Any, plugin_env: Any) -> None:
    answer = tools.get_operator_schema(None, DETECT, dataset_name=dataset.name)
    assert answer["success"]
    properties = answer["data"]["input_schema"]["type"]["properties"]
    for name in ("target", "model", "classes", "label_field", "gt_field", "advanced"):
        assert name in properties, name
    # the options most runs leave alone are folded; asking with the switch on shows them
    assert "max_objects" not in properties and "concurrency" not in properties
    unfolded = tools.get_operator_schema(
        None, DETECT, params={"advanced": True}, dataset_name=dataset.name
    )
    properties = unfolded["data"]["input_schema"]["type"]["properties"]
    for name in ("max_objects", "max_image_side", "mode", "concurrency", "tier"):
        assert name in properties, name
    classify = tools.get_operator_schema(
        None, f"{PLUGIN}/classify_images", dataset_name=dataset.name
    )
    assert classify["data"]["input_schema"]["type"]["properties"]["classes"]["required"]


def test_an_assistant_runs_detection_and_gets_the_summary(dataset: Any, plugin_env: Any) -> None:
    answer = execute(DETECT, dataset, gt_field=GT_DETECTIONS, label_field="mcp_boxes")
    assert answer["success"], answer.get("error")
    result = answer["data"]["result"]
    assert result["report"]["labelled"] == 3 and result["evaluation"]["recall"] > 0.9
    dataset.reload()
    assert dataset.count("mcp_boxes.detections") > 0


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"concurrency": "many"}, "concurrency must be a whole number"),
        ({"label_field": GT_DETECTIONS}, "ground-truth"),
        ({"classes": "circle", "clases": "x"}, "unknown parameter 'clases'"),
        ({"max_objects": -1}, "max_objects must be a whole number from 1"),
    ],
    ids=["type", "ground-truth", "unknown", "range"],
)
def test_an_assistants_bad_inputs_are_refused_in_one_sentence(
    dataset: Any, plugin_env: Any, params: dict[str, Any], reason: str
) -> None:
    before = sent_requests(plugin_env)
    answer = execute(DETECT, dataset, gt_field=GT_DETECTIONS, **params)
    assert not answer["success"]
    error = answer["error"]
    assert error.startswith("Validation error") and "\n" not in error
    assert reason in error, error
    assert sent_requests(plugin_env) == before


def test_the_companion_skill_is_found_and_names_the_operators() -> None:
    found = skills_tools.list_skills(plugin=PLUGIN)
    assert [s.name for s in found] == ["gemini-vision-labelling"]
    skill = found[0]
    assert skill.description and "Gemini" in skill.description
    for operator in ("detect_objects", "classify_images", "evaluate_against_ground_truth"):
        assert f"`{operator}`" in skill.content
