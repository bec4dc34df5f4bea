"""compare_models: three variants on 50 samples, one table, three evaluation keys, the cost
estimated before anything is sent within 10 % of what the runs recorded, and a variant whose
requests repeat another's answered from the cache (not one request of it sent)."""

from __future__ import annotations

from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from gemini_vision import RunSettings, TaskSpec, Variant, compare_models  # noqa: E402
from gemini_vision.adapters import clear_cached_answers  # noqa: E402
from gemini_vision.adapters.compare import COMPARISONS_KEY  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402
from gemini_vision.errors import ConfigurationError  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


@pytest.fixture(scope="module")
def fifty(datasets: DatasetFactory) -> Any:
    return datasets.scenes(50, seed=620)


def test_three_variants_one_table_three_keys_and_an_honest_estimate(
    fifty: Any, datasets: DatasetFactory, plugin_env: Any
) -> None:
    clear_cached_answers()
    dataset = datasets.clone(fifty)
    classes = tuple(dataset.distinct(f"{GT_DETECTIONS}.detections.label"))
    task = TaskSpec(kind="detect", classes=classes)
    variants = [
        Variant("flash", model="gemini-2.5-flash"),
        Variant("lite", model="gemini-2.5-flash-lite"),
        # the same requests as "flash" (1024 is the default image side): the cache answers
        Variant("flash_again", max_image_side=1024),
    ]
    before = plugin_env.stats.count("generateContent")
    estimate = compare_models(dataset, task, variants, GT_DETECTIONS, dry_run=True)
    assert plugin_env.stats.count("generateContent") == before  # a dry run sends nothing
    assert [v.estimated_cost_usd > 0 for v in estimate.variants] == [True, True, False]

    comparison = compare_models(dataset, task, variants, GT_DETECTIONS)
    assert plugin_env.stats.count("generateContent") - before == 2 * len(dataset)
    # each image decoded and resized once; the other variants used what was prepared
    assert (comparison.images_prepared, comparison.images_reused) == (
        len(dataset),
        2 * len(dataset),
    )
    again = comparison.variants[2]
    assert (again.from_cache, again.cost_usd) == (len(dataset), 0.0)
    recorded = comparison.cost_usd
    assert abs(estimate.estimated_cost_usd - recorded) <= 0.1 * recorded, (
        estimate.estimated_cost_usd,
        recorded,
    )
    for variant in comparison.variants:
        assert dataset.has_evaluation(variant.eval_key)
        assert variant.labelled == len(dataset) and variant.failed == 0
        assert variant.metrics["recall"] >= 0.9 and set(variant.per_class) == set(classes)
    table = comparison.markdown()
    assert table.count("| gemini-2.5-flash |") == 2 and "| gemini-2.5-flash-lite |" in table
    dataset.reload()
    kept = dataset.info[COMPARISONS_KEY][-1]
    assert [v["eval_key"] for v in kept["variants"]] == [
        "compare_flash",
        "compare_lite",
        "compare_flash_again",
    ]


def test_the_operator_previews_runs_and_refuses(
    fifty: Any, datasets: DatasetFactory, plugin_env: Any
) -> None:
    dataset = datasets.clone(fifty.limit(6))
    variants = [
        {"name": "flash", "model": "gemini-2.5-flash"},
        {"name": "pro", "model": "gemini-2.5-pro", "max_image_side": 768},
    ]
    params = {"gt_field": GT_DETECTIONS, "variants": variants, "dry_run": True}
    before = plugin_env.stats.count("generateContent")
    preview = foo.execute_operator(
        f"{PLUGIN}/compare_models", ctx={"dataset": dataset, "params": params}
    )
    assert "Estimated cost of the comparison" in preview.result["markdown"]
    assert plugin_env.stats.count("generateContent") == before
    params["dry_run"] = False
    result = foo.execute_operator(
        f"{PLUGIN}/compare_models", ctx={"dataset": dataset, "params": params}
    )
    assert "| pro | gemini-2.5-pro |" in result.result["markdown"]
    dataset.reload()
    assert {"compare_flash", "compare_pro"} <= set(dataset.list_evaluations())
    for bad, reason in (
        ([{"name": "solo"}], "variants must hold 2 to 4 entries"),
        ([{"name": "a b"}, {"name": "c"}], "must be a name like"),
        ([{"name": "a", "colour": "red"}, {"name": "b"}], "unknown field 'colour'"),
    ):
        with pytest.raises(foo.executor.ExecutionError, match=reason):
            foo.execute_operator(
                f"{PLUGIN}/compare_models",
                ctx={"dataset": dataset, "params": {"gt_field": GT_DETECTIONS, "variants": bad}},
            )


def test_what_cannot_be_compared_is_refused_before_anything_is_sent(
    fifty: Any, plugin_env: Any
) -> None:
    task = TaskSpec(kind="caption")
    with pytest.raises(ConfigurationError, match="cannot be scored against ground truth"):
        compare_models(fifty, task, [Variant("a"), Variant("b")], GT_DETECTIONS)
    with pytest.raises(ConfigurationError, match="variant names must differ"):
        compare_models(fifty, TaskSpec(kind="detect"), [Variant("a"), Variant("a")], GT_DETECTIONS)
    with pytest.raises(ConfigurationError, match="does not exist"):
        compare_models(fifty, TaskSpec(kind="detect"), [Variant("a"), Variant("b")], "nope")
    settings = RunSettings(model="gemini-2.5-flash")
    with pytest.raises(ConfigurationError, match="2 to 4 variants"):
        compare_models(
            fifty, TaskSpec(kind="detect"), [Variant("a")] * 5, GT_DETECTIONS, settings=settings
        )
