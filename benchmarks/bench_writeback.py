"""Write-back rate: Gemini's segmentation answers turned into FiftyOne labels and stored.

Real answers first: the emulator (own process) segments ``--images`` generated scenes through
the engine. Those parsed answers are then handed, ``--samples`` times over, to the writer that
:func:`gemini_vision.run_task` uses - which turns each answer into ``fo.Detections`` with
instance masks in the displayed frame (decoding each PNG mask) and writes them in bulk
with ``set_values(..., key_field="id")``, plus the per-sample error field - in batches of
``--batch`` outcomes, as the engine hands them over. Timed: the writer calls only.

Goal: >= 500 samples/s for detections with masks. As in ``run_task``, answers are
converted to labels (PNG masks decoded, resized to the box in the displayed frame, thresholded)
by the engine's thread pool as they arrive, while the writer stores finished batches: the
headline figure is that pipelined write-back. Its two halves are also measured apart: the
conversion alone (one thread) and the storage alone (``LabelWriter`` storing converted
outcomes, i.e. ``set_values`` of the labels and the error field).

Run: ``.venv/bin/python benchmarks/bench_writeback.py [--samples 2000] [--batch 64 256]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import KEY, EmulatorProcess, drop_database, make_dataset

from gemini_vision.tasks import TaskKind

_KIND = TaskKind.SEGMENT


def segment(base_url: str, paths: list[Path]) -> list[Any]:
    """The engine's outcomes for ``paths`` (segmentation, default settings, no cache)."""
    from gemini_vision import RunSettings
    from gemini_vision.engine import ItemOutcome, WorkItem, open_engine
    from gemini_vision.tasks import TaskSpec

    settings = RunSettings(model="gemini-2.5-flash", api_key=KEY, base_url=base_url)
    engine = open_engine(TaskSpec(kind="segment"), settings)
    outcomes: dict[str, ItemOutcome] = {}

    async def go() -> None:
        async with engine.client:
            items = [WorkItem(str(i), str(p)) for i, p in enumerate(paths)]
            await engine.run(items, lambda batch: outcomes.update((o.key, o) for o in batch))

    asyncio.run(go())
    return [outcomes[str(i)] for i in range(len(paths))]


def conversion_rate(writer: Any, outcomes: list[Any]) -> float:
    """Samples per second of the writer's conversion alone (answers -> the documents FiftyOne
    stores, masks decoded and serialised), one thread."""
    started = time.perf_counter()
    for outcome in outcomes:
        writer.convert(outcome)
    return len(outcomes) / (time.perf_counter() - started)


def label_objects_rate(outcomes: list[Any]) -> float:
    """Samples per second of building FiftyOne's label objects instead
    (``gemini_vision.adapters.to_label``: ``fo.Detections``, validated field by field)."""
    from gemini_vision.adapters import to_label

    started = time.perf_counter()
    for outcome in outcomes:
        to_label(_KIND, outcome.answer, outcome.image.display_size)
    return len(outcomes) / (time.perf_counter() - started)


def storage_rate(writer: Any, outcomes: list[Any], batch: int) -> float:
    """Samples per second of the writer storing outcomes whose labels are already built."""
    ready = [dataclasses.replace(o, converted=writer.convert(o)) for o in outcomes]
    started = time.perf_counter()
    for start in range(0, len(ready), batch):
        writer(ready[start : start + batch])
    return len(ready) / (time.perf_counter() - started)


def pipelined_rate(writer: Any, outcomes: list[Any], batch: int, threads: int = 2) -> float:
    """Samples per second of write-back as ``run_task`` does it: ``threads`` convert answers
    (the engine's pool, default 2 workers) while this thread stores finished batches."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        chunk: list[Any] = []
        for outcome in pool.map(
            lambda o: dataclasses.replace(o, converted=writer.convert(o)), outcomes
        ):
            chunk.append(outcome)
            if len(chunk) >= batch:
                writer(chunk)
                chunk = []
        if chunk:
            writer(chunk)
    return len(outcomes) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="conversion threads")
    args = parser.parse_args()

    from gemini_vision.adapters import LabelWriter
    from gemini_vision.demo import generate_scene
    from gemini_vision.tasks import TaskSpec

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.images):
            path = Path(tmp) / f"scene_{i}.png"
            generate_scene(2000 + i, (640, 480)).image.save(path)
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
                whole, convert, objects_rate, store = [], [], [], []
                for repeat in range(args.repeats):
                    field = f"seg_b{batch}_{repeat}"
                    writer = LabelWriter(dataset, task, field)
                    whole.append(pipelined_rate(writer, outcomes, batch, args.threads))
                    stored = dataset.count(f"{field}.detections.mask")
                    assert stored == sum(objects[i % len(answers)] for i in range(len(ids)))
                    convert.append(conversion_rate(writer, outcomes))
                    objects_rate.append(label_objects_rate(outcomes))
                    again = LabelWriter(dataset, task, f"{field}_again")
                    store.append(storage_rate(again, outcomes, batch))
                verdict = "PASS" if statistics.median(whole) >= 500 else "FAIL"
                print(
                    f"batches of {batch:3d}: write-back {statistics.median(whole):6.0f} "
                    f"samples/s {verdict} (runs: {', '.join(f'{r:.0f}' for r in whole)}); "
                    f"conversion alone (1 thread) {statistics.median(convert):6.0f}/s "
                    f"({statistics.median(convert) / statistics.median(objects_rate):.1f} x "
                    f"FiftyOne's label objects, {statistics.median(objects_rate):.0f}/s); "
                    f"storage alone {statistics.median(store):6.0f}/s"
                )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
