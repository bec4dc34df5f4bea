"""Review findings on the FiftyOne-facing code, with the operators called from Python the way
the issue describes (``execute_operator`` with ``dataset``/``view``/``selected``/``params``)
against the emulator: targets, collections, output fields, odd parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.usefixtures("plugin_env")]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.executor import ExecutionContext, Executor  # noqa: E402

from gemini_vision.adapters.synthetic import GT_CLASSIFICATION, GT_DETECTIONS  # noqa: E402
from gemini_vision.emulator import Emulator  # noqa: E402
from gemini_vision.errors import RunStoppedError  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


@pytest.fixture(scope="module")
def scene_dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(4, seed=4242)


@pytest.fixture
def dataset(scene_dataset: Any, datasets: DatasetFactory) -> Iterator[Any]:
    clone = datasets.clone(scene_dataset)
    yield clone
    clone.delete()


def run(name: str, collection: Any, selected: list[str] | None = None, **params: Any) -> Any:
    ctx: dict[str, Any] = {"params": params}
    ctx["view" if isinstance(collection, fo.DatasetView) else "dataset"] = collection
    if selected is not None:
        ctx["selected"] = selected
    result = foo.execute_operator(f"{PLUGIN}/{name}", ctx=ctx)
    collection._dataset.reload()
    return result


# ------------------------------------------------------------------------------------------------
# targets


def test_the_selection_is_the_default_target_as_in_the_app(dataset: Any) -> None:
    ids = dataset.values("id")
    answer = run("ask_about_selection", dataset, selected=ids[:2]).result
    assert answer["num_images"] == 2
    run("caption_images", dataset, selected=ids[:1], label_field="cap")
    assert dataset.exists("cap").values("id") == ids[:1]


def test_collections_that_are_not_plain_images_are_refused_before_any_request(
    dataset: Any, gemini: Emulator, tmp_path: Path
) -> None:
    before = gemini.stats.count("generateContent")
    patches = dataset.to_patches(GT_DETECTIONS)
    with pytest.raises(Exception, match="patches"):
        run("caption_images", patches, target="CURRENT_VIEW", label_field="cap")
    videos = fo.Dataset()
    videos.add_sample(fo.Sample(filepath=str(tmp_path / "clip.mp4")))
    with pytest.raises(Exception, match="video"):
        run("detect_objects", videos, label_field="boxes")
    assert not videos.has_field("boxes")
    groups = fo.Dataset()
    groups.add_group_field("group", default="left")
    group = fo.Group()
    path = dataset.first().filepath
    groups.add_samples(
        [
            fo.Sample(filepath=path, group=group.element("left")),
            fo.Sample(filepath=path, group=group.element("right")),
        ]
    )
    with pytest.raises(Exception, match="select_group_slices"):
        run("caption_images", groups, label_field="cap")
    assert gemini.stats.count("generateContent") == before
    # the way out the message names works: every image slice gets its caption
    run("caption_images", groups.select_group_slices(), target="CURRENT_VIEW", label_field="cap")
    assert groups.select_group_slices().count("cap") == 2


def test_a_view_without_the_output_field_still_skips_finished_samples(
    dataset: Any, gemini: Emulator
) -> None:
    run("caption_images", dataset, label_field="cap")
    dataset.set_values("cap", ["corrected by hand"] * len(dataset))
    before = gemini.stats.count("generateContent")
    view = dataset.select_fields(GT_DETECTIONS)
    run("caption_images", view, target="CURRENT_VIEW", label_field="cap")
    assert dataset.values("cap") == ["corrected by hand"] * len(dataset)
    assert gemini.stats.count("generateContent") == before


# ------------------------------------------------------------------------------------------------
# output fields: refused up front, before paying for requests


def test_multi_label_results_are_refused_in_a_single_label_field(
    dataset: Any, gemini: Emulator
) -> None:
    run("classify_images", dataset, label_field="cls", classes_field=GT_CLASSIFICATION)
    before = gemini.stats.count("generateContent")
    with pytest.raises(Exception, match="holds Classification values"):
        run(
            "classify_images",
            dataset,
            label_field="cls",
            classes_field=GT_CLASSIFICATION,
            multi_label=True,
            overwrite=True,
        )
    assert gemini.stats.count("generateContent") == before
    assert dataset.get_field("cls").document_type is fo.Classification


def test_the_semantic_field_must_be_its_own_segmentation_field(
    dataset: Any, gemini: Emulator
) -> None:
    run("detect_objects", dataset, label_field="boxes", classes_field=GT_DETECTIONS)
    before = gemini.stats.count("generateContent")
    with pytest.raises(Exception, match="semantic field must differ"):
        run(
            "segment_objects",
            dataset,
            label_field="inst",
            semantic_field="inst",
            classes_field=GT_DETECTIONS,
        )
    with pytest.raises(Exception, match="holds Detections values"):
        run(
            "segment_objects",
            dataset,
            label_field="inst",
            semantic_field="boxes",
            classes_field=GT_DETECTIONS,
        )
    assert gemini.stats.count("generateContent") == before
    assert dataset.get_field("boxes").document_type is fo.Detections


# ------------------------------------------------------------------------------------------------
# parameters and forms


def test_badly_typed_parameters_get_a_validation_error_naming_them(dataset: Any) -> None:
    # the form is built first: it must not crash on them, so FiftyOne can say what is wrong
    with pytest.raises(Exception, match=r"Reason: classes must be a list of names"):
        run("detect_objects", dataset, label_field="boxes", classes=[7, "circle"])
    with pytest.raises(Exception, match="Reason: model must be text, got 5"):
        run("caption_images", dataset, label_field="cap", model=5)
    assert not dataset.has_field("boxes") and not dataset.has_field("cap")


ODD_PARAMS = [
    {"classes": [1, 2]},
    {"classes": 7},
    {"model": 5},
    {"prompt": 3},
    {"question": 5},
    {"label_field": 9},
]


@pytest.mark.parametrize("params", ODD_PARAMS, ids=lambda p: next(iter(p)))
def test_forms_never_raise_on_odd_parameter_values(dataset: Any, params: dict) -> None:
    operators = [o for o in foo.OperatorRegistry().list_operators() if o.uri.startswith(PLUGIN)]
    for operator in operators:
        ctx = ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
        assert operator.resolve_input(ctx) is not None, operator.uri


# ------------------------------------------------------------------------------------------------
# the App


def app_notifications(dataset: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    """Runs operator ``name`` as the App does (a generator with an executor) and returns the
    parameters of the notifications it sent."""
    operator = foo.get_operator(f"{PLUGIN}/{name}")
    request = {"dataset_name": dataset.name, "operator_uri": operator.uri, "params": params}
    ctx = ExecutionContext(request_params=request, executor=Executor())  # as the App sends it
    messages = list(operator.execute(ctx))
    return [
        m.body.params
        for m in messages
        if m.body is not None and m.body.operator_uri.split("/")[-1] == "notify"
    ]


def test_the_app_is_told_plainly_when_a_run_stopped_or_samples_failed(
    dataset: Any, tmp_path: Path
) -> None:
    (done,) = app_notifications(dataset, "caption_images", label_field="cap")
    assert done["variant"] == "success"
    # a run that cannot label anything (here: an unknown model) is told as an error: the App
    # drops an exception raised inside a generator operator, so it is never raised there
    (stopped,) = app_notifications(dataset, "caption_images", label_field="c2", model="gemini-0")
    assert stopped["variant"] == "error"
    assert re.search(r"model was not found.*choose another model", stopped["message"])
    # from Python, the same run raises the reason, as the engine's own class
    with pytest.raises(Exception, match=r"model was not found") as info:
        operator = foo.get_operator(f"{PLUGIN}/caption_images")
        params = {"label_field": "c2", "model": "gemini-0"}
        operator.execute(
            ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
        )
    # the operators and this test share one copy of the engine: its own class
    assert isinstance(info.value, RunStoppedError)
    dataset.reload()  # and it leaves no empty fields or run records behind
    assert not dataset.has_field("c2") and not dataset.has_field("c2_error")
    assert "gemini_c2" not in dataset.list_runs()
    dataset.add_sample(fo.Sample(filepath=str(tmp_path / "gone.jpg")))
    (partial,) = app_notifications(dataset, "caption_images", label_field="cap")
    assert partial["variant"] == "warning" and "1 failed" in partial["message"]
