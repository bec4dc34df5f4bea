"""Cost previews: images still to do, tokens by Google's image rules, thinking billed as output."""

from __future__ import annotations

from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision import RunSettings  # noqa: E402
from gemini_vision.adapters.preview import preview_cost  # noqa: E402
from gemini_vision.catalog import (  # noqa: E402
    estimate_text_tokens,
    price_for,
)
from gemini_vision.tasks.prompts import prompt_text  # noqa: E402
from gemini_vision.tasks.spec import TaskSpec  # noqa: E402


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    ds = datasets.samples(
        fo.Sample(
            filepath=f"/nonexistent/photo_{i}.jpg",
            metadata=fo.ImageMetadata(width=4000, height=3000),
        )
        for i in range(4)
    )
    first = ds.first()
    first["done"] = "a caption already there"  # one sample is finished
    first.save()
    return ds


def preview(dataset: Any, task: TaskSpec, model: str = "gemini-2.5-flash") -> Any:
    return preview_cost(dataset, task, "done", RunSettings(model=model, max_image_side=1024))


def test_images_to_do_and_their_tokens_at_the_size_sent(dataset: Any) -> None:
    task = TaskSpec(kind="caption")
    estimate = preview(dataset, task)
    assert (estimate.to_process, estimate.skipped) == (3, 1)
    # 4000x3000 is sent at 1024x768: two 768-px tiles of 258 tokens, plus the prompt
    assert estimate.input_tokens == 3 * (516 + estimate_text_tokens(prompt_text(task)))
    price = price_for("gemini-2.5-flash")
    assert estimate.cost_usd == pytest.approx(
        price.cost(estimate.input_tokens, estimate.output_tokens)
    )


@pytest.mark.parametrize(
    ("task", "model", "thinking"),
    [
        (TaskSpec(kind="detect"), "gemini-2.5-flash", 0),  # budget 0 for spatial tasks
        (TaskSpec(kind="ask", question="How many?"), "gemini-2.5-flash", 800),  # dynamic
        (TaskSpec(kind="ask", question="How many?"), "gemini-2.0-flash", 0),  # no thinking
        (TaskSpec(kind="detect"), "gemini-2.5-pro", 128),  # Pro's smallest budget
        (TaskSpec(kind="detect"), "gemini-3-flash-preview", 30),  # thinkingLevel MINIMAL
    ],
    ids=["detect-2.5", "ask-2.5", "ask-2.0", "detect-2.5-pro", "detect-3"],
)
def test_thinking_is_counted_as_output(
    dataset: Any, task: TaskSpec, model: str, thinking: int
) -> None:
    answer_only = preview(dataset, task, "gemini-2.0-flash").output_tokens
    assert preview(dataset, task, model).output_tokens == answer_only + 3 * thinking
