"""Every operator, loaded the way FiftyOne loads plugins and run through ``execute_operator``
(immediately and delegated), against the emulator over a real socket, on a generated dataset
with ground truth: EXIF-rotated JPEGs, non-square images, PNG, WEBP and HEIC files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import numpy as np
import pytest
import support
import yaml
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.usefixtures("plugin_env")]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.delegated import DelegatedOperationService  # noqa: E402

from gemini_vision.adapters.synthetic import (  # noqa: E402
    GT_CLASSIFICATION,
    GT_DETECTIONS,
    GT_SEGMENTATION,
)
from gemini_vision.emulator import Emulator  # noqa: E402

ROOT = support.ROOT
PLUGIN = "@gemini-vision/gemini"
GT_FIELDS = (GT_DETECTIONS, GT_SEGMENTATION, GT_CLASSIFICATION)


@pytest.fixture(scope="module")
def scene_dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(8, seed=100)


@pytest.fixture
def dataset(scene_dataset: Any, datasets: DatasetFactory) -> Iterator[Any]:
    clone = datasets.clone(scene_dataset)
    yield clone
    clone.delete()


def run(name: str, dataset: Any, delegated: bool = False, **params: Any) -> Any:
    uri = f"{PLUGIN}/{name}"
    result = foo.execute_operator(
        uri, ctx={"dataset": dataset, "params": params}, request_delegation=delegated
    )
    if delegated:
        assert result.delegated
        service = DelegatedOperationService()
        service.execute_queued_operations(dataset_name=dataset.name)
        doc = service.get(result.result["id"])
        assert doc.run_state == "completed", doc.result.error if doc.result else doc
        result = doc.result
    dataset.reload()
    return result


def raw_documents(
    dataset: Any, fields: tuple[str, ...], without_marks_of: tuple[str, ...] = ()
) -> list[bytes]:
    """The stored BSON of ``fields`` for every sample, byte for byte, optionally without the
    ``<key>``, ``<key>_id`` and ``<key>_iou`` marks FiftyOne's evaluations add to labels."""
    marks = {f"{k}{suffix}" for k in without_marks_of for suffix in ("", "_id", "_iou")}

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in marks}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    projection = {f: True for f in fields}
    cursor = dataset._sample_collection.find({}, projection).sort("_id", 1)
    return [bson.BSON.encode(strip(doc)) for doc in cursor]


# ------------------------------------------------------------------------------------------------


def test_plugin_loads_and_registers_exactly_the_operators_in_its_manifest() -> None:
    registry = foo.OperatorRegistry()
    assert registry.list_errors() == []
    manifest = yaml.safe_load((ROOT / "fiftyone.yml").read_text())
    registered = {
        op.uri.split("/")[-1] for op in registry.list_operators() if op.uri.startswith(PLUGIN)
    }
    assert registered == set(manifest["operators"]) | set(manifest["panels"])
    assert manifest["name"] == PLUGIN


@pytest.mark.parametrize("delegated", [False, True], ids=["immediate", "delegated"])
def test_detect_then_evaluate_matches_ground_truth(dataset: Any, delegated: bool) -> None:
    run("detect_objects", dataset, delegated, label_field="pred", classes_field=GT_DETECTIONS)
    assert dataset.count("pred.detections") > 0
    assert not dataset.has_field("pred_error")  # nothing failed: no error field
    result = run(
        "evaluate_against_ground_truth",
        dataset,
        delegated,
        pred_field="pred",
        gt_field=GT_DETECTIONS,
        eval_key="eval_pred",
    )
    metrics = result.result
    assert metrics["precision"] >= 0.95, metrics
    assert metrics["recall"] >= 0.95, metrics
    assert "eval_pred" in dataset.list_evaluations()


@pytest.mark.parametrize("delegated", [False, True], ids=["immediate", "delegated"])
def test_segment_writes_instance_masks_and_a_semantic_field(dataset: Any, delegated: bool) -> None:
    run(
        "segment_objects",
        dataset,
        delegated,
        label_field="seg",
        semantic_field="seg_semantic",
        classes_field=GT_DETECTIONS,
        gt_field=GT_SEGMENTATION,
    )
    assert dataset.count("seg.detections.mask") == dataset.count("seg.detections") > 0
    assert dataset.mask_targets["seg_semantic"] == dataset.mask_targets[GT_SEGMENTATION]
    masks = run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="seg",
        gt_field=GT_DETECTIONS,
        eval_key="eval_masks",
        use_masks=True,
    ).result
    assert masks["use_masks"] is True
    assert masks["mean_matched_iou"] >= 0.9, masks
    semantic = run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="seg_semantic",
        gt_field=GT_SEGMENTATION,
        eval_key="eval_semantic",
    ).result
    assert semantic["type"] == "segmentation"
    assert semantic["accuracy"] >= 0.9, semantic


@pytest.mark.parametrize("delegated", [False, True], ids=["immediate", "delegated"])
def test_classify_with_classes_from_the_ground_truth_field(dataset: Any, delegated: bool) -> None:
    run(
        "classify_images",
        dataset,
        delegated,
        label_field="cls",
        classes_field=GT_CLASSIFICATION,
        gt_field=GT_CLASSIFICATION,
        eval_key="eval_cls",
    )
    predicted = dataset.values("cls.label")
    truth = dataset.values(f"{GT_CLASSIFICATION}.label")
    assert None not in predicted
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) >= 0.9
    assert "eval_cls" in dataset.list_evaluations()


@pytest.mark.parametrize("delegated", [False, True], ids=["immediate", "delegated"])
def test_caption_and_ask_write_string_fields(dataset: Any, delegated: bool) -> None:
    run("caption_images", dataset, delegated, label_field="caption")
    run(
        "ask_images",
        dataset,
        delegated,
        label_field="answer",
        prompt="How many circles are there?",
    )
    captions = dataset.values("caption")
    answers = dataset.values("answer")
    assert all(isinstance(c, str) and c for c in captions)
    assert all(isinstance(a, str) and a for a in answers)
    truth = [
        len([d for d in gt.detections if d.label == "circle"])
        for gt in dataset.values(GT_DETECTIONS)
    ]
    assert sum(str(n) in a for n, a in zip(truth, answers, strict=True)) >= len(truth) - 1


@pytest.mark.parametrize("delegated", [False, True], ids=["immediate", "delegated"])
def test_points_land_inside_their_objects(dataset: Any, delegated: bool) -> None:
    run("point_objects", dataset, delegated, label_field="points", classes_field=GT_DETECTIONS)
    inside = total = 0
    for sample in dataset.select_fields(["points", GT_DETECTIONS, "metadata"]):
        w, h = sample.metadata.width, sample.metadata.height
        full = np.zeros((h, w), bool)
        for det in sample[GT_DETECTIONS].detections:
            x, y, _, _ = det.bounding_box
            x0, y0 = int(x * w), int(y * h)
            full[y0 : y0 + det.mask.shape[0], x0 : x0 + det.mask.shape[1]] |= det.mask
        for keypoint in sample.points.keypoints:
            ((px, py),) = keypoint.points
            total += 1
            inside += bool(full[min(int(py * h), h - 1), min(int(px * w), w - 1)])
    assert total > 0 and inside / total >= 0.95


def test_ask_about_selection_answers_once_and_keeps_the_answer(dataset: Any) -> None:
    ids = dataset.limit(2).values("id")
    result = foo.execute_operator(
        f"{PLUGIN}/ask_about_selection",
        ctx={
            "dataset": dataset,
            "selected": ids,
            "params": {
                "target": "SELECTED_SAMPLES",
                "prompt": "What is different between these images?",
            },
        },
    )
    assert result.result["num_images"] == 2
    assert result.result["answer"]
    dataset.reload()
    kept = dataset.info["gemini_answers"][-1]
    assert kept["answer"] == result.result["answer"] and kept["sample_ids"] == ids


def test_ask_about_selection_takes_the_question_parameter_too(dataset: Any) -> None:
    question = "Which of these images has the most objects?"
    result = foo.execute_operator(
        f"{PLUGIN}/ask_about_selection",
        ctx={"dataset": dataset, "view": dataset.limit(2), "params": {"question": question}},
    )
    assert result.result["question"] == question
    dataset.reload()
    assert dataset.info["gemini_answers"][-1]["question"] == question


def test_ground_truth_is_byte_for_byte_unchanged_after_every_operator(dataset: Any) -> None:
    before = raw_documents(dataset, GT_FIELDS)
    run(
        "detect_objects",
        dataset,
        label_field="a",
        classes_field=GT_DETECTIONS,
        gt_field=GT_DETECTIONS,
        eval_key="eval_a",
    )
    run(
        "segment_objects",
        dataset,
        label_field="b",
        semantic_field="b_sem",
        classes_field=GT_DETECTIONS,
        gt_field=GT_SEGMENTATION,
        eval_key="eval_b",
    )
    run(
        "classify_images",
        dataset,
        label_field="c",
        classes_field=GT_CLASSIFICATION,
        gt_field=GT_CLASSIFICATION,
        eval_key="eval_c",
    )
    run("caption_images", dataset, label_field="d")
    run("ask_images", dataset, label_field="e", prompt="Is there a star?")
    run("point_objects", dataset, label_field="f", classes_field=GT_DETECTIONS)
    run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="a",
        gt_field=GT_DETECTIONS,
        eval_key="eval_again",
    )
    # FiftyOne's evaluations mark matched ground-truth objects (tp/fn, id, iou): that is the
    # only thing that may differ, and deleting the evaluations restores the exact bytes
    eval_keys = tuple(dataset.list_evaluations())
    assert set(eval_keys) >= {"eval_a", "eval_b", "eval_c", "eval_again"}
    assert raw_documents(dataset, GT_FIELDS, without_marks_of=eval_keys) == before
    dataset.delete_evaluations()
    assert raw_documents(dataset, GT_FIELDS) == before


def test_refuses_to_write_into_ground_truth_or_foreign_fields(dataset: Any) -> None:
    with pytest.raises(Exception, match=r"ground-truth|not created by Gemini Vision"):
        run("detect_objects", dataset, label_field=GT_DETECTIONS)
    dataset.add_sample_field("notes", fo.StringField)
    with pytest.raises(Exception, match="not created by Gemini Vision"):
        run("caption_images", dataset, label_field="notes")


def test_a_bad_sample_gets_a_reason_and_the_others_are_labelled(
    dataset: Any, tmp_path: Path
) -> None:
    missing = fo.Sample(filepath=str(tmp_path / "missing.jpg"))
    dataset.add_sample(missing)
    run("caption_images", dataset, label_field="cap")
    assert dataset.count("cap") == len(dataset) - 1
    errors = dataset.exists("cap_error").values("cap_error")
    assert len(errors) == 1 and "missing.jpg" in errors[0]


def test_each_run_leaves_a_record_without_secrets(dataset: Any) -> None:
    prompt = "Describe the shapes (run record test)."  # a request no other test made
    run("caption_images", dataset, label_field="cap", model="gemini-2.5-flash", prompt=prompt)
    info = dataset.get_run_info("gemini_cap")
    config = info.config.serialize()
    assert config["model"] == "gemini-2.5-flash" and config["task"]["kind"] == "caption"
    results = dataset.load_run_results("gemini_cap")
    assert results.latest["labelled"] == len(dataset)
    assert results.latest["input_tokens"] > 0
    assert os.environ["GEMINI_API_KEY"] not in str(config) + str(results.latest)


def test_rerun_skips_finished_samples_unless_overwrite(dataset: Any, gemini: Emulator) -> None:
    run("caption_images", dataset, label_field="cap")
    before = gemini.stats.count("generateContent")
    run("caption_images", dataset, label_field="cap")
    assert gemini.stats.count("generateContent") == before
    run("caption_images", dataset, label_field="cap", overwrite=True)
    # overwrite re-visits every sample, but identical requests come from the cache
    assert gemini.stats.count("generateContent") == before


def test_ground_truth_alone_gives_the_vocabulary_and_an_evaluation(dataset: Any) -> None:
    run("detect_objects", dataset, label_field="boxes", gt_field=GT_DETECTIONS)
    truth_classes = set(dataset.distinct(f"{GT_DETECTIONS}.detections.label"))
    assert set(dataset.distinct("boxes.detections.label")) <= truth_classes
    assert "eval_boxes" in dataset.list_evaluations()
    results = dataset.load_evaluation_results("eval_boxes")
    assert results.metrics()["precision"] >= 0.95


def test_open_vocabulary_boxes_evaluate_without_class_matching(dataset: Any) -> None:
    run("detect_objects", dataset, label_field="free")  # labels like "red circle"
    assert not set(dataset.distinct("free.detections.label")) & {"circle", "square"}
    metrics = run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="free",
        gt_field=GT_DETECTIONS,
        eval_key="eval_free",
        classwise=False,
    ).result
    assert metrics["classwise"] is False
    assert metrics["precision"] >= 0.95 and metrics["recall"] >= 0.95


def test_python_callers_may_name_any_target(dataset: Any) -> None:
    view = dataset.limit(3)
    run_view = foo.execute_operator(
        f"{PLUGIN}/caption_images",
        ctx={"view": view, "params": {"target": "CURRENT_VIEW", "label_field": "cap"}},
    )
    assert run_view.error is None
    dataset.reload()
    assert dataset.count("cap") == 3
    with pytest.raises(Exception, match="no samples are selected"):
        run("caption_images", dataset, target="SELECTED_SAMPLES", label_field="cap2")
    run("caption_images", dataset, target="CURRENT_VIEW", label_field="cap3")
    assert dataset.count("cap3") == len(dataset)


def test_a_semantic_field_needs_a_vocabulary(dataset: Any) -> None:
    with pytest.raises(Exception, match="needs a vocabulary"):
        run("segment_objects", dataset, label_field="inst", semantic_field="sem")
    assert not dataset.has_field("inst")
    with pytest.raises(Exception, match="needs a vocabulary"):  # refused when queued
        run("segment_objects", dataset, True, label_field="inst", semantic_field="sem")
    queued = DelegatedOperationService().list_operations(dataset_name=dataset.name)
    assert not [op for op in queued if op.run_state == "queued"]


def test_mask_iou_is_refused_clearly_when_some_objects_have_no_mask(dataset: Any) -> None:
    run("detect_objects", dataset, label_field="boxes_only", classes_field=GT_DETECTIONS)
    with pytest.raises(Exception, match="mask IoU needs an instance mask on every object"):
        run(
            "evaluate_against_ground_truth",
            dataset,
            pred_field="boxes_only",
            gt_field=GT_DETECTIONS,
            eval_key="eval_boxes_only",
            use_masks=True,
        )
    metrics = run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="boxes_only",
        gt_field=GT_DETECTIONS,
        eval_key="eval_boxes_only",
    ).result
    assert metrics["use_masks"] is False and metrics["precision"] >= 0.95


def test_python_callers_get_the_run_summary_and_the_app_gets_a_stream(dataset: Any) -> None:
    view = dataset.limit(3)
    from_python = foo.execute_operator(
        f"{PLUGIN}/caption_images", ctx={"view": view, "params": {"label_field": "cap_py"}}
    )
    summary = from_python.result
    assert summary["label_field"] == "cap_py" and summary["report"]["labelled"] == 3, summary
    # the App names the operator in its requests: progress is streamed, nothing returned
    from_app = foo.execute_operator(
        f"{PLUGIN}/caption_images",
        ctx={
            "view": view,
            "operator_uri": f"{PLUGIN}/caption_images",
            "params": {"label_field": "cap_app"},
        },
    )
    assert from_app.error is None and from_app.result is None
    dataset.reload()
    assert dataset.count("cap_py") == dataset.count("cap_app") == 3


def test_the_evaluation_form_refuses_fields_of_different_kinds(dataset: Any) -> None:
    with pytest.raises(Exception, match=r"cannot compare Detections .* both fields must hold"):
        run(
            "evaluate_against_ground_truth",
            dataset,
            pred_field=GT_DETECTIONS,
            gt_field=GT_CLASSIFICATION,
            eval_key="eval_mixed",
        )
    assert "eval_mixed" not in dataset.list_evaluations()


def test_evaluation_takes_label_field_and_yes_no_flags_are_never_strings(dataset: Any) -> None:
    run("detect_objects", dataset, label_field="strs", classes_field=GT_DETECTIONS)
    metrics = run(
        "evaluate_against_ground_truth",
        dataset,
        label_field="strs",  # the task operators' name for the predictions
        gt_field=GT_DETECTIONS,
    ).result
    assert metrics["precision"] >= 0.95
    assert "eval_strs" in dataset.list_evaluations()
    with pytest.raises(Exception, match="pred_field"):
        run("evaluate_against_ground_truth", dataset, gt_field=GT_DETECTIONS)
    # "false" would be True to bool(): refused, never taken as a yes
    before = dataset.values("strs.detections.id")
    for name in ("overwrite", "with_confidence"):
        with pytest.raises(Exception, match=name):
            run("detect_objects", dataset, label_field="strs", **{name: "false"})
    assert dataset.values("strs.detections.id") == before


def test_multi_label_results_are_kept_when_fiftyone_cannot_evaluate_them(dataset: Any) -> None:
    result = run(
        "classify_images",
        dataset,
        True,
        label_field="tags_ml",
        classes_field=GT_CLASSIFICATION,
        multi_label=True,
        gt_field=GT_CLASSIFICATION,
    ).result
    assert dataset.count("tags_ml.classifications") >= len(dataset)
    assert "error" in result["evaluation"]
    assert "eval_tags_ml" not in dataset.list_evaluations()


def test_ask_about_selection_delegated(dataset: Any) -> None:
    ids = dataset.limit(3).values("id")
    queued = foo.execute_operator(
        f"{PLUGIN}/ask_about_selection",
        ctx={"dataset": dataset, "selected": ids, "params": {"target": "SELECTED_SAMPLES"}},
        request_delegation=True,
    )
    service = DelegatedOperationService()
    service.execute_queued_operations(dataset_name=dataset.name)
    doc = service.get(queued.result["id"])
    assert doc.run_state == "completed", doc.result.error if doc.result else doc
    assert doc.result.result["num_images"] == 3 and doc.result.result["answer"]
    dataset.reload()
    assert dataset.info["gemini_answers"][-1]["sample_ids"] == ids


def test_evaluation_keys_are_replaced_or_refused_clearly(dataset: Any) -> None:
    run("detect_objects", dataset, label_field="b", classes_field=GT_DETECTIONS)
    for _ in range(2):  # the same key again replaces the evaluation
        run(
            "evaluate_against_ground_truth",
            dataset,
            pred_field="b",
            gt_field=GT_DETECTIONS,
            eval_key="eval_same",
        )
    assert dataset.list_evaluations().count("eval_same") == 1
    run("classify_images", dataset, label_field="c", classes_field=GT_CLASSIFICATION)
    with pytest.raises(Exception, match="already holds a detection evaluation"):
        run(
            "evaluate_against_ground_truth",
            dataset,
            pred_field="c",
            gt_field=GT_CLASSIFICATION,
            eval_key="eval_same",
        )


def test_an_evaluation_of_another_field_is_never_replaced(dataset: Any) -> None:
    dataset.clone_sample_field(GT_DETECTIONS, "theirs")
    dataset.evaluate_detections("theirs", gt_field=GT_DETECTIONS, eval_key="mine")
    run("detect_objects", dataset, label_field="boxes", classes_field=GT_DETECTIONS)
    with pytest.raises(Exception, match="'mine' already evaluates 'theirs'"):
        run(
            "evaluate_against_ground_truth",
            dataset,
            pred_field="boxes",
            gt_field=GT_DETECTIONS,
            eval_key="mine",
        )
    assert dataset.get_evaluation_info("mine").config.pred_field == "theirs"
    assert dataset.count("theirs.detections.mine") == dataset.count("theirs.detections")


def test_keypoint_evaluation_results_are_strict_json_for_the_app(dataset: Any) -> None:
    run("point_objects", dataset, label_field="pts", classes_field=GT_DETECTIONS)
    dataset.clone_sample_field("pts", "pts_truth")
    metrics = run(
        "evaluate_against_ground_truth",
        dataset,
        pred_field="pts",
        gt_field="pts_truth",
        eval_key="eval_pts",
    ).result
    assert metrics["tp"] == dataset.count("pts.keypoints") > 0
    # the App parses results with JSON.parse, which rejects NaN (single points have no IoU)
    json.loads(json.dumps(metrics, allow_nan=False))


def test_a_run_that_can_label_nothing_fails_with_the_reason(dataset: Any) -> None:
    with pytest.raises(Exception, match="model was not found"):
        run("caption_images", dataset, label_field="cap", model="gemini-0-unknown")
    dataset.reload()
    assert not dataset.has_field("cap")  # no empty field is left behind
    queued = foo.execute_operator(
        f"{PLUGIN}/caption_images",
        ctx={"dataset": dataset, "params": {"label_field": "cap2", "model": "gemini-0-unknown"}},
        request_delegation=True,
    )
    service = DelegatedOperationService()
    service.execute_queued_operations(dataset_name=dataset.name)
    doc = service.get(queued.result["id"])
    assert doc.run_state == "failed" and "model was not found" in doc.result.error


def test_segmenting_against_a_semantic_ground_truth_adds_a_semantic_field(dataset: Any) -> None:
    run("segment_objects", dataset, label_field="parts", gt_field=GT_SEGMENTATION)
    assert dataset.count("parts_semantic") == len(dataset)
    assert dataset.mask_targets["parts_semantic"] == dataset.mask_targets[GT_SEGMENTATION]
    results = dataset.load_evaluation_results("eval_parts")
    assert results.metrics()["accuracy"] >= 0.9
