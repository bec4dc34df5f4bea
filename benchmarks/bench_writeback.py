"""Write-back rate: Gemini's segmentation answers turned into FiftyOne labels and stored.

Real answers first: the emulator (own process) segments ``--images`` generated scenes through
the engine. Those parsed answers are then handed, ``--samples`` times over, to the writer that
:func:`gemini_vision.runner.run_task` uses - which turns each answer into ``fo.Detections``
with instance masks in the displayed frame (decoding each PNG mask) and writes them in bulk
with ``set_values(..., key_field="id")``, plus the per-sample error field - in batches of
``--batch`` outcomes, as the engine hands them over. Timed: the writer calls only.

Goal (issue 5): >= 500 samples/s for detections with masks. Three figures: the whole writer
(answer -> labels -> database), and its two halves measured apart - the conversion alone
(``labels.to_label``: PNG masks decoded, resized to the box in the displayed frame, thresholded)
and the storage alone (``set_values`` of ready labels, exactly as the writer calls it).

Run: ``.venv/bin/python benchmarks/bench_writeback.py [--samples 2000] [--batch 64 256]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import KEY, EmulatorProcess, drop_database, make_dataset

from gemini_vision.tasks import TaskKind

_KIND = TaskKind.SEGMENT


def segment(base_url: str, paths: list[Path]) -> list[Any]:
    """The engine's outcomes for ``paths`` (segmentation, default settings)."""
    from gemini_vision.client import AsyncGeminiClient
    from gemini_vision.pipeline import Engine, EngineSettings, ItemOutcome, WorkItem
    from gemini_vision.tasks import TaskSpec

    outcomes: dict[str, ItemOutcome] = {}

    async def go() -> None:
        async with AsyncGeminiClient(KEY, base_url=base_url) as client:
            engine = Engine(
                client, TaskSpec(kind="segment"), EngineSettings(model="gemini-2.5-flash")
            )
            items = [WorkItem(str(i), str(p)) for i, p in enumerate(paths)]
            await engine.run(items, lambda batch: outcomes.update((o.key, o) for o in batch))

    asyncio.run(go())
    return [outcomes[str(i)] for i in range(len(paths))]


def conversion_rate(outcomes: list[Any]) -> float:
    """Samples per second of ``labels.to_label`` alone (answers -> ``fo.Detections``)."""
    from gemini_vision.labels import to_label

    started = time.perf_counter()
    for outcome in outcomes:
        to_label(_KIND, outcome.answer, outcome.image.display_size)
    return len(outcomes) / (time.perf_counter() - started)


def storage_rate(dataset: Any, field: str, outcomes: list[Any], batch: int) -> float:
    """Samples per second of the writer's ``set_values`` calls alone, on ready labels."""
    import fiftyone as fo

    from gemini_vision.labels import to_label

    labels = [(o.key, to_label(_KIND, o.answer, o.image.display_size)) for o in outcomes]
    dataset.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    dataset.add_sample_field(f"{field}_error", fo.StringField)
    started = time.perf_counter()
    for start in range(0, len(labels), batch):
        chunk = labels[start : start + batch]
        dataset.set_values(field, dict(chunk), key_field="id")
        dataset.set_values(f"{field}_error", {key: None for key, _ in chunk}, key_field="id")
    return len(labels) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import dataclasses

    from gemini_vision import scenes
    from gemini_vision.runner import _Writer
    from gemini_vision.tasks import TaskSpec

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.images):
            path = Path(tmp) / f"scene_{i}.png"
            scenes.generate_scene(2000 + i, (640, 480)).image.save(path)
            paths.append(path)
        with EmulatorProcess() as emu:
            answers = segment(emu.base_url, paths)
        assert all(a.status == "ok" for a in answers), [a.error for a in answers]
        objects = [len(a.answer.objects) for a in answers]
        masks = sum(o.mask is not None for a in answers for o in a.answer.objects)
        dataset = make_dataset([paths[i % len(paths)] for i in range(args.samples)])
        try:
            ids = dataset.values("id")
            print(
                f"{args.samples} samples; answers of {args.images} 640x480 scenes: "
                f"{statistics.mean(objects):.1f} objects each, {masks} of {sum(objects)} with a "
                "mask"
            )
            task = TaskSpec(kind="segment")
            outcomes = [
                dataclasses.replace(answers[i % len(answers)], key=sample_id)
                for i, sample_id in enumerate(ids)
            ]
            for batch in args.batch:
                whole, convert, store = [], [], []
                for repeat in range(args.repeats):
                    field = f"seg_b{batch}_{repeat}"
                    writer = _Writer(dataset, task, field, None, None)
                    started = time.perf_counter()
                    for start in range(0, len(outcomes), batch):
                        writer(outcomes[start : start + batch])
                    whole.append(len(outcomes) / (time.perf_counter() - started))
                    stored = dataset.count(f"{field}.detections.mask")
                    assert stored == sum(objects[i % len(answers)] for i in range(len(ids)))
                    convert.append(conversion_rate(outcomes))
                    store.append(storage_rate(dataset, f"{field}_again", outcomes, batch))
                print(
                    f"batches of {batch:3d}: whole writer {statistics.median(whole):6.0f} "
                    f"samples/s (runs: {', '.join(f'{r:.0f}' for r in whole)}); conversion "
                    f"alone {statistics.median(convert):6.0f}/s; storage alone "
                    f"{statistics.median(store):6.0f}/s"
                )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
