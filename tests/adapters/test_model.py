"""GeminiModel with FiftyOne's own ``apply_model``, for every task, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision.adapters.evaluation import evaluate  # noqa: E402
from gemini_vision.adapters.model import GeminiModel  # noqa: E402
from gemini_vision.adapters.synthetic import (  # noqa: E402
    DEFAULT_FORMATS,
    GT_CLASSIFICATION,
    GT_DETECTIONS,
)
from gemini_vision.emulator import Emulator  # noqa: E402

# apply_model decodes every image with OpenCV before calling the model, which cannot read HEIC
FORMATS = [f for f in DEFAULT_FORMATS if f.suffix != ".heic"]


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(6, seed=900, formats=FORMATS)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[dict[str, str]]:
    with Emulator() as server:
        yield {"api_key": "model-key", "base_url": server.base_url}


def classes(dataset: Any) -> list[str]:
    return dataset.distinct(f"{GT_DETECTIONS}.detections.label")


@pytest.mark.parametrize("batch_size", [None, 4], ids=["one-by-one", "batched"])
def test_detect_model_matches_ground_truth(dataset: Any, endpoint: dict, batch_size: Any) -> None:
    model = GeminiModel("detect", classes=classes(dataset), with_confidence=True, **endpoint)
    calls: list[int] = []
    predict_all = model.predict_all

    def spy(args: Any, samples: Any = None) -> Any:
        calls.append(len(args))
        return predict_all(args, samples)

    model.predict_all = spy  # type: ignore[method-assign]
    field = f"det_{batch_size or 1}"
    dataset.apply_model(model, label_field=field, batch_size=batch_size)
    metrics = evaluate(dataset, field, GT_DETECTIONS, f"eval_{field}")
    assert metrics["precision"] >= 0.95 and metrics["recall"] >= 0.95, metrics
    assert metrics["mAP"] is not None
    if batch_size:  # FiftyOne hands over whole batches, which are sent concurrently
        assert calls == [4, 2], calls


def test_segment_model_writes_masks_on_the_displayed_frame(dataset: Any, endpoint: dict) -> None:
    dataset.apply_model(GeminiModel("segment", classes=classes(dataset), **endpoint), "seg")
    metrics = evaluate(dataset, "seg", GT_DETECTIONS, "eval_seg", use_masks=True)
    assert metrics["mean_matched_iou"] >= 0.9, metrics


def test_classify_caption_and_point_models(dataset: Any, endpoint: dict) -> None:
    truth = dataset.distinct(f"{GT_CLASSIFICATION}.label")
    dataset.apply_model(GeminiModel("classify", classes=truth, **endpoint), "cls")
    assert dataset.values("cls.label") == dataset.values(f"{GT_CLASSIFICATION}.label")
    dataset.apply_model(GeminiModel("caption", **endpoint), "caption")
    assert all(isinstance(c, str) and c for c in dataset.values("caption"))
    dataset.apply_model(GeminiModel("point", classes=classes(dataset), **endpoint), "pts")
    assert dataset.count("pts.keypoints") == dataset.count(f"{GT_DETECTIONS}.detections")


def test_a_bad_image_gives_no_label_and_does_not_stop_apply_model(
    dataset: Any, endpoint: dict, tmp_path: Any
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    view = dataset.limit(2)
    model = GeminiModel("caption", **endpoint)
    predictions = model.predict_all(
        [None, None], samples=[fo.Sample(filepath=str(broken)), view.first()]
    )
    assert predictions[0] is None and isinstance(predictions[1], str)


def test_apply_model_takes_its_confidence_threshold_and_classes(
    dataset: Any, endpoint: dict
) -> None:
    vocabulary = dataset.distinct(f"{GT_DETECTIONS}.detections.label")
    model = GeminiModel("detect", classes=vocabulary, with_confidence=True, **endpoint)
    dataset.apply_model(model, label_field="kept", confidence_thresh=0.5, classes=vocabulary[:1])
    labels = dataset.distinct("kept.detections.label")
    assert labels == vocabulary[:1]
    assert min(dataset.values("kept.detections.confidence", unwind=True)) >= 0.5
