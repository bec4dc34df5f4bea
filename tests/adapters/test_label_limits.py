"""Labels a worker cannot hold or MongoDB cannot store fail their own sample, with the reason
in its error field, and the rest of the batch is stored: no poison sample blocks a rerun."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from fiftyone.core.utils import deserialize_numpy_array  # noqa: E402

from gemini_vision.adapters.labels import MAX_SAMPLE_MASK_BYTES, Labels, LabelWriter  # noqa: E402
from gemini_vision.engine import ItemOutcome  # noqa: E402
from gemini_vision.engine.requests import ImageInfo  # noqa: E402
from gemini_vision.errors import InvalidResponseError  # noqa: E402
from gemini_vision.parsing import MaskData, ParsedObject, ParseResult  # noqa: E402
from gemini_vision.tasks import TaskKind, TaskSpec  # noqa: E402

IMAGE = ImageInfo(display_size=(4000, 3000), sent_size=(1024, 768), sha256="0" * 64, mime_type="")


def outcome(key: str, label: Any) -> ItemOutcome:
    return ItemOutcome(key, "ok", answer=True, image=IMAGE, converted=Labels(label))


def noise_detections(count: int, side: int, seed: int) -> fo.Detections:
    """Detections whose masks are noise: nothing compresses them, in MongoDB either."""
    rng = np.random.default_rng(seed)
    masks = [rng.integers(0, 256, (side, side), dtype=np.uint8) for _ in range(count)]
    return fo.Detections(
        detections=[fo.Detection(label="x", bounding_box=[0, 0, 1, 1], mask=m) for m in masks]
    )


def test_a_sample_mongodb_cannot_hold_fails_alone_and_the_batch_is_stored(
    datasets: DatasetFactory,
) -> None:
    dataset = datasets.scenes(3, seed=11)
    ids = dataset.values("id")
    writer = LabelWriter(dataset, TaskSpec(kind=TaskKind.SEGMENT), "pred")
    small = noise_detections(1, 32, seed=1)
    huge = noise_detections(5, 2000, seed=2)  # 20 MB of noise
    unstored = writer([outcome(ids[0], small), outcome(ids[1], huge), outcome(ids[2], small)])
    assert list(unstored) == [ids[1]]
    assert "too large for one MongoDB document" in unstored[ids[1]]
    dataset.reload()
    labels = dict(zip(ids, dataset.values("pred"), strict=True))
    errors = dict(zip(ids, dataset.values("pred_error"), strict=True))
    assert labels[ids[1]] is None and errors[ids[1]] == unstored[ids[1]]
    for key in (ids[0], ids[2]):
        assert errors[key] is None
        assert np.array_equal(labels[key].detections[0].mask, small.detections[0].mask)
    # the rerun of the poison sample fails the same way, and stores nothing else wrongly
    assert list(writer([outcome(ids[1], huge)])) == [ids[1]]


def test_masks_past_the_memory_budget_are_refused_before_they_are_all_built(
    datasets: DatasetFactory,
) -> None:
    dataset = datasets.scenes(1, seed=12)
    writer = LabelWriter(dataset, TaskSpec(kind=TaskKind.SEGMENT), "pred")
    full_frame = [0, 0, 1000, 1000]  # 12 MB of mask each on a 4000 x 3000 image
    mask = MaskData(kind="png", png=png(np.full((64, 64), 255, np.uint8)), png_size=(64, 64))
    objects = tuple(ParsedObject(box_2d=full_frame, label="x", mask=mask) for _ in range(40))
    with pytest.raises(InvalidResponseError, match="more than 128 MB of memory"):
        writer.convert(answered(objects))
    # within the budget (8 x 12 MB), every mask is built
    assert MAX_SAMPLE_MASK_BYTES > 8 * 4000 * 3000
    # (the writer builds the stored documents: the masks as FiftyOne serialises them)
    document = writer.convert(answered(objects[:8])).label
    shapes = [deserialize_numpy_array(bytes(d["mask"])).shape for d in document["detections"]]
    assert shapes == [(3000, 4000)] * 8


def answered(objects: tuple[ParsedObject, ...]) -> ItemOutcome:
    answer = ParseResult(objects=objects, raw_text="")
    return ItemOutcome("s", "ok", answer=answer, image=IMAGE)


def png(gray: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(gray).save(out, format="PNG")
    return out.getvalue()
