"""audit_ground_truth on ground truth with planted mistakes, against the emulator.

40 scenes (about 215 objects) get a noisy copy of their ground truth: 20 labels changed to
another class, 20 objects removed (still in the image), 20 boxes added on empty background;
and planted predictions: the true objects less 20 (real misses) plus 20 boxes on background
(false alarms). The audit must find >= 90 % of the wrong labels and flag <= 5 % of the
correct ones; the evaluation review must tell the removed objects (false positives that are
missing ground truth) from the false alarms, and the extra boxes (doubtful ground truth) from
the real misses, >= 90 % of the time each.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from gemini_vision import audit_ground_truth  # noqa: E402
from gemini_vision.adapters import clear_cached_answers  # noqa: E402
from gemini_vision.adapters.audit import SUSPECTS_VIEW  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS, plant_mistakes  # noqa: E402
from gemini_vision.errors import ConfigurationError  # noqa: E402

PLUGIN = "@gemini-vision/gemini"
NOISY = "noisy_ground_truth"
PREDS = "planted_predictions"


@pytest.fixture(scope="module")
def planted(datasets: DatasetFactory) -> tuple[Any, Any]:
    dataset = datasets.scenes(40, seed=900)
    return dataset, plant_mistakes(dataset, noisy_field=NOISY, pred_field=PREDS, seed=1)


def verdicts(dataset: Any, field: str) -> dict[str, str]:
    """Each looked-at object's verdict, by the id of the label it mirrors."""
    return {
        det.source_id: det.verdict
        for dets in dataset.values(f"{field}.detections")
        for det in dets or ()
    }


def share(found: dict[str, str], ids: list[str], wanted: set[str]) -> float:
    return sum(found.get(i) in wanted for i in ids) / len(ids)


def test_the_audit_finds_the_planted_mistakes(
    planted: tuple[Any, Any], datasets: DatasetFactory, plugin_env: Any
) -> None:
    clear_cached_answers()
    source, truth = planted
    dataset = datasets.clone(source)
    assert dataset.count(f"{GT_DETECTIONS}.detections") >= 200
    noisy_before = dataset.values(NOISY)
    summary = audit_ground_truth(dataset, NOISY, tag="suspect")
    found = verdicts(dataset, f"{NOISY}_audit")
    wrong_found = share(found, truth.wrong_labels, {"wrong_label", "no_object"})
    correct_flagged = 1 - share(found, truth.correct, {"correct"})
    extra_found = share(found, truth.extra_boxes, {"no_object"})
    print(
        "\naudit:",
        summary.verdicts,
        f"wrong labels found {wrong_found:.0%}, correct flagged {correct_flagged:.1%}, "
        f"extra boxes found {extra_found:.0%}",
    )
    assert wrong_found >= 0.9 and correct_flagged <= 0.05 and extra_found >= 0.9
    # the ground truth itself is untouched but for the tags asked for
    after = dataset.values(NOISY)
    assert [[d.label for d in x.detections] for x in after] == [
        [d.label for d in x.detections] for x in noisy_before
    ]
    tagged = dataset.count_label_tags(NOISY).get("suspect", 0)
    assert tagged == summary.suspects
    # the saved view: samples with suspects, the most confident first
    view = dataset.load_saved_view(SUSPECTS_VIEW)
    assert len(view) > 0 and set(view.distinct(f"{NOISY}_audit.detections.verdict")) <= {
        "wrong_label",
        "no_object",
    }
    best = [max(d.confidence or 0 for d in s[f"{NOISY}_audit"].detections) for s in view]
    assert best == sorted(best, reverse=True)
    assert set(summary.per_class) == set(dataset.distinct(f"{NOISY}.detections.label"))


def test_the_review_of_an_evaluation_separates_data_errors_from_model_errors(
    planted: tuple[Any, Any], datasets: DatasetFactory, plugin_env: Any
) -> None:
    source, truth = planted
    dataset = datasets.clone(source)
    dataset.evaluate_detections(PREDS, gt_field=NOISY, eval_key="planted")
    patches = dataset.to_evaluation_patches("planted")
    summary = audit_ground_truth(patches, label_field="review")  # key and field from the view
    found = verdicts(dataset, "review")
    table = {
        "missing objects": Counter(found.get(i) for i in truth.missing),
        "false alarms": Counter(found.get(i) for i in truth.false_alarms),
        "extra boxes": Counter(found.get(i) for i in truth.extra_boxes),
        "real misses": Counter(found.get(i) for i in truth.real_misses),
    }
    print("\nreview:", summary.verdicts, table)
    assert share(found, truth.missing, {"missing_ground_truth"}) >= 0.9
    assert share(found, truth.false_alarms, {"false_alarm"}) >= 0.9
    assert share(found, truth.extra_boxes, {"doubtful_ground_truth"}) >= 0.9
    assert share(found, truth.real_misses, {"real_miss"}) >= 0.9
    # only what the evaluation disputed was looked at
    disputed = dataset.count(
        f"{NOISY}.detections",
    ) - int(dataset.sum("planted_tp"))
    disputed += int(dataset.sum("planted_fp"))
    assert summary.objects == disputed


def test_the_operator_runs_and_refuses(
    planted: tuple[Any, Any], datasets: DatasetFactory, plugin_env: Any
) -> None:
    source, _ = planted
    dataset = datasets.clone(source.limit(4))
    result = foo.execute_operator(
        f"{PLUGIN}/audit_ground_truth",
        ctx={"dataset": dataset, "params": {"gt_field": NOISY}},
    )
    assert "suspected" in result.result["markdown"] and result.result["objects"] > 0
    dataset.reload()
    assert dataset.has_field(f"{NOISY}_audit") and SUSPECTS_VIEW in dataset.list_saved_views()
    with pytest.raises(ConfigurationError, match="must be a Detections field"):
        audit_ground_truth(dataset, "filepath")
    with pytest.raises(ConfigurationError, match="no evaluation 'nope'"):
        audit_ground_truth(dataset, NOISY, eval_key="nope")
