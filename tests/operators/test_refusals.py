"""Every refusal arrives before the first paid request, as one sentence saying what to do.

Each case feeds bad input through ``execute_operator`` exactly as Python callers and AI
assistants do (an App request differs only in carrying an operator URI; the form it renders is
the same ``resolve_input``): FiftyOne refuses the call with our sentence as the reason, no
traceback, and the emulator saw no request that carried data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import sent_requests
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.executor import ExecutionContext  # noqa: E402

from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


@pytest.fixture(scope="module")
def scenes(datasets: DatasetFactory) -> Any:
    return datasets.scenes(4, seed=11)


@pytest.fixture
def dataset(scenes: Any, datasets: DatasetFactory) -> Iterator[Any]:
    clone = datasets.clone(scenes)
    yield clone
    clone.delete()


def refusal(name: str, collection: Any, **params: Any) -> str:
    """The reason FiftyOne gives for refusing ``name`` with ``params`` (asserts one line)."""
    ctx: dict[str, Any] = {"params": params}
    ctx["view" if isinstance(collection, fo.DatasetView) else "dataset"] = collection
    with pytest.raises(foo.executor.ExecutionError) as caught:
        foo.execute_operator(f"{PLUGIN}/{name}", ctx=ctx)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith("Validation error") and "Reason: " in message, message
    return message.split("Reason: ", 1)[1]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"concurrency": "x"}, "concurrency must be a whole number from 1 to 256, got 'x'"),
        ({"max_image_side": "x"}, "max_image_side must be a whole number"),
        ({"concurrency": 0}, "concurrency must be a whole number from 1 to 256, got 0"),
        ({"max_objects": 2.5}, "max_objects must be a whole number"),
        ({"tier": "gold"}, "tier must be one of free, tier1, tier2, tier3"),
        ({"overwrite": "false"}, "overwrite must be true or false"),
        ({"clases": ["circle"]}, "unknown parameter 'clases'; did you mean 'classes'?"),
        ({"classes": {"a": 1}}, "classes must be a list of names"),
        ({"target": "EVERYTHING"}, "target must be one of DATASET, CURRENT_VIEW"),
        ({"eval_key": "9 bad", "gt_field": GT_DETECTIONS}, "'9 bad' is not a valid evaluation"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_parameters_are_refused_with_one_sentence_and_nothing_sent(
    dataset: Any, plugin_env: Any, params: dict, reason: str
) -> None:
    before = sent_requests(plugin_env)
    assert reason in refusal("detect_objects", dataset, **params)
    assert sent_requests(plugin_env) == before
    dataset.reload()
    assert not dataset.has_field("gemini_detections")


def test_no_api_key_is_refused_before_anything_is_sent(dataset: Any) -> None:
    reason = refusal("caption_images", dataset)  # no plugin_env: no key anywhere
    assert reason.startswith("No Gemini API key found") and "GEMINI_API_KEY" in reason


def test_an_unusable_base_url_is_said_and_the_form_still_renders(
    dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-refusals")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "ftp://nowhere")
    operator = foo.get_operator(f"{PLUGIN}/detect_objects")
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": {}})
    form = operator.resolve_input(ctx).to_json()
    assert "model" in str(form)  # the form is there, with its model picker
    assert "Invalid Gemini base URL" in refusal("detect_objects", dataset)


def test_required_inputs_are_marked_and_refused_when_missing(
    dataset: Any, plugin_env: Any
) -> None:
    before = sent_requests(plugin_env)
    assert "classify_images needs classes" in refusal("classify_images", dataset)
    assert "ask_images needs a question" in refusal("ask_images", dataset)
    for name, param in (("classify_images", "classes"), ("ask_images", "prompt")):
        operator = foo.get_operator(f"{PLUGIN}/{name}")
        ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": {}})
        schema = operator.resolve_input(ctx).to_json()
        assert schema["type"]["properties"][param]["required"] is True, name
    assert sent_requests(plugin_env) == before


def test_a_semantic_field_without_a_vocabulary_is_refused(
    datasets: DatasetFactory, tmp_path: Any, plugin_env: Any
) -> None:
    before = sent_requests(plugin_env)
    plain = datasets.samples(fo.Sample(filepath=str(tmp_path / f"{i}.png")) for i in range(2))
    reason = refusal("segment_objects", plain, semantic_field="sem")
    assert "needs a vocabulary" in reason
    assert sent_requests(plugin_env) == before


def test_asking_about_an_empty_selection_is_refused(dataset: Any, plugin_env: Any) -> None:
    before = sent_requests(plugin_env)
    reason = refusal("ask_about_selection", dataset, target="SELECTED_SAMPLES")
    assert "no samples are selected" in reason
    assert "no samples to ask about" in refusal("ask_about_selection", dataset.limit(0))
    assert sent_requests(plugin_env) == before


def test_mask_iou_without_masks_is_refused_in_the_form(dataset: Any, plugin_env: Any) -> None:
    foo.execute_operator(
        f"{PLUGIN}/detect_objects",
        ctx={"dataset": dataset, "params": {"label_field": "boxes", "gt_field": GT_DETECTIONS}},
    )
    reason = refusal(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="boxes",
        gt_field=GT_DETECTIONS,
        eval_key="eval_masks",
        use_masks=True,
    )
    assert "mask IoU needs an instance mask on every object" in reason
    assert "eval_masks" not in dataset.list_evaluations()


def test_an_evaluation_key_of_other_fields_is_refused_before_the_paid_run(
    dataset: Any, plugin_env: Any
) -> None:
    foo.execute_operator(
        f"{PLUGIN}/evaluate_against_ground_truth",
        ctx={
            "dataset": dataset,
            "params": {"pred_field": GT_DETECTIONS, "gt_field": GT_DETECTIONS, "eval_key": "k"},
        },
    )
    before = sent_requests(plugin_env)
    reason = refusal("detect_objects", dataset, gt_field=GT_DETECTIONS, eval_key="k")
    assert "evaluation key 'k' already evaluates" in reason
    assert sent_requests(plugin_env) == before


def test_overwriting_a_field_another_tool_wrote_is_said_in_the_form(
    dataset: Any, plugin_env: Any
) -> None:
    operator = foo.get_operator(f"{PLUGIN}/detect_objects")
    params = {"label_field": GT_DETECTIONS, "overwrite": True}
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
    text = str(operator.resolve_input(ctx).to_json())
    assert f"'{GT_DETECTIONS}' was not created by Gemini Vision" in text
    params["overwrite"] = False
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
    assert "was not created by Gemini Vision" in refusal("detect_objects", dataset, **params)


def test_the_evaluation_form_preselects_the_obvious_fields(dataset: Any, plugin_env: Any) -> None:
    foo.execute_operator(
        f"{PLUGIN}/detect_objects", ctx={"dataset": dataset, "params": {"label_field": "mine"}}
    )
    operator = foo.get_operator(f"{PLUGIN}/evaluate_against_ground_truth")
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": {}})
    properties = operator.resolve_input(ctx).to_json()["type"]["properties"]
    assert properties["pred_field"]["default"] == "mine"  # the plugin's latest field
    assert properties["gt_field"]["default"] == GT_DETECTIONS  # ground truth of the same kind
    assert properties["eval_key"]["default"] == "eval_mine"


ADVANCED = {"max_objects", "max_image_side", "mode", "concurrency", "tier", "requests_per_minute"}


def form_properties(dataset: Any, name: str, **params: Any) -> dict[str, Any]:
    operator = foo.get_operator(f"{PLUGIN}/{name}")
    ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
    return dict(operator.resolve_input(ctx).to_json()["type"]["properties"])


def test_pacing_and_image_options_are_folded_until_asked_for(
    dataset: Any, plugin_env: Any
) -> None:
    folded = form_properties(dataset, "detect_objects", gt_field=GT_DETECTIONS)
    assert folded["advanced"]["view"]["name"] == "SwitchView"
    assert folded["advanced"]["default"] is False
    assert not ADVANCED & set(folded)
    assert {"model", "classes", "label_field", "gt_field", "eval_key"} <= set(folded)
    unfolded = form_properties(dataset, "detect_objects", advanced=True)
    assert set(unfolded) >= ADVANCED
    # a caller who passes an advanced option sees it; the switch, once touched, decides
    assert set(form_properties(dataset, "detect_objects", concurrency=8)) >= ADVANCED
    assert not ADVANCED & set(
        form_properties(dataset, "detect_objects", concurrency=8, advanced=False)
    )
    # a refused advanced option is never hidden, whatever the switch says
    refused = form_properties(dataset, "detect_objects", concurrency="x", advanced=False)
    assert refused["concurrency"]["invalid"] is True
    assert "whole number" in refused["concurrency"]["error_message"]


def test_folded_options_still_apply_when_given(dataset: Any, plugin_env: Any) -> None:
    foo.execute_operator(
        f"{PLUGIN}/caption_images",
        ctx={"dataset": dataset, "params": {"label_field": "small", "max_image_side": 64}},
    )
    (record,) = [
        dataset.get_run_info(key).config for key in dataset.list_runs() if key.endswith("small")
    ]
    assert record.settings["max_image_side"] == 64


def test_what_fiftyone_adds_from_an_open_panel_is_not_a_parameter(
    dataset: Any, plugin_env: Any
) -> None:
    """The App adds the active panel's id and state to the parameters of an operator opened
    while a panel is active: they are FiftyOne's, never refused as unknown."""
    panel = {"panel_id": "a1b2c3", "panel_state": {"counts": {"selected": 3}}}
    properties = form_properties(dataset, "detect_objects", **panel)
    assert "parameter_error" not in properties
    reason = refusal("detect_objects", dataset, bogus=1, **panel)
    assert "unknown parameter 'bogus'" in reason
    assert "'panel_id'" not in reason and "'panel_state'" not in reason
