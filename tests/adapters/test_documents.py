"""The write-back builds the documents FiftyOne stores for detections and instance masks itself
(no mongoengine validation per object): read back, they are the very labels FiftyOne's own
classes would have stored - boxes, labels, confidences, masks pixel for pixel, attributes."""

from __future__ import annotations

import asyncio
import io
import zlib
from typing import Any

import numpy as np
import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision import RunSettings, TaskSpec  # noqa: E402
from gemini_vision.adapters.labels import LabelWriter, _serialized, to_label  # noqa: E402
from gemini_vision.engine import ItemOutcome, WorkItem, open_engine  # noqa: E402


def answers(base_url: str, paths: list[str], kind: str) -> list[ItemOutcome]:
    settings = RunSettings(api_key="test-key", base_url=base_url, use_cache=False)
    engine = open_engine(TaskSpec(kind=kind, with_confidence=True), settings)
    found: dict[str, ItemOutcome] = {}

    async def go() -> None:
        async with engine.client:
            items = [WorkItem(str(i), p) for i, p in enumerate(paths)]
            await engine.run(items, lambda batch: found.update((o.key, o) for o in batch))

    asyncio.run(go())
    return [found[str(i)] for i in range(len(paths))]


@pytest.mark.parametrize("kind", ["segment", "detect"])
def test_built_documents_read_back_as_fiftyone_would_store_them(
    kind: str, datasets: DatasetFactory, gemini: Any
) -> None:
    dataset = datasets.clone(datasets.scenes(4, seed=840))
    ids, paths = dataset.values(["id", "filepath"])
    outcomes = [o for o in answers(gemini.base_url, paths, kind)]
    assert all(o.status == "ok" for o in outcomes)
    task = TaskSpec(kind=kind, with_confidence=True)
    writer = LabelWriter(dataset, task, "built")
    assert isinstance(writer.convert(outcomes[0]).label, dict)  # the lean path is taken
    for sample_id, outcome in zip(ids, outcomes, strict=True):
        outcome.key = sample_id
        outcome.incomplete = "cut short (test)" if sample_id == ids[0] else None
    writer(outcomes)
    reference = {
        sample_id: to_label(task.kind, o.answer, o.image.display_size)
        for sample_id, o in zip(ids, outcomes, strict=True)
    }
    dataset.set_values("reference", reference, key_field="id")
    dataset.reload()
    for sample in dataset:
        built, expected = sample["built"], sample["reference"]
        assert isinstance(built, fo.Detections) and len(built.detections) > 0
        assert len(built.detections) == len(expected.detections)
        for ours, theirs in zip(built.detections, expected.detections, strict=True):
            for name in ("label", "bounding_box", "confidence", "raw_label", "label_method"):
                assert ours[name] == theirs[name], name
            if kind == "segment":
                assert ours.mask is not None and np.array_equal(ours.mask, theirs.mask)
            else:
                assert ours.mask is None
        assert (built["incomplete"] if sample.id == ids[0] else None) == (
            "cut short (test)" if sample.id == ids[0] else None
        )
    # what FiftyOne does with them works: evaluation, with masks
    results = dataset.evaluate_detections(
        "built", gt_field="reference", eval_key="same", use_masks=kind == "segment"
    )
    assert results.metrics()["precision"] == 1.0 and results.metrics()["recall"] == 1.0


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).random((80, 100)) > 0.5,
        np.zeros((0, 5), bool),
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        (np.random.default_rng(1).random((300, 7)) > 0.5)[:, ::2],  # not C-contiguous
    ],
    ids=["mask", "empty", "uint8", "strided"],
)
def test_masks_are_stored_as_the_bytes_np_save_writes(array: np.ndarray) -> None:
    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert zlib.decompress(_serialized(array)) == expected.getvalue()
    assert np.array_equal(np.load(io.BytesIO(zlib.decompress(_serialized(array)))), array)
