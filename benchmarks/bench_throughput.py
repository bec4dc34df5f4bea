"""Throughput under 500 ms of latency: the engine vs the ideal vs a sequential loop.

A dataset of 1,000 samples (distinct JPEG bytes, so neither cache nor in-flight coalescing
helps) is labelled with object detection through :func:`gemini_vision.run_task` - the whole
path: paging and claiming samples, preparing images, requests, parsing, labels written
to FiftyOne in bulk, the run record. The emulator answers every request after 500 ms, in its
own process.

- ideal: ``concurrency / latency`` requests per second (no quota here);
- sequential loop: what the Python examples of Google's "Image understanding" guide for the
  Gemini API do - read a file, send one request, wait for the answer, parse it, next - timed
  over the first samples (``--sequential``);
- ours: samples per second over the whole run (wall clock), median of ``--repeats`` runs.

Goal: ours >= 0.9 x ideal and >= 15 x the sequential loop.

Run: ``.venv/bin/python benchmarks/bench_throughput.py [--samples 1000] [--concurrency 16 64]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import KEY, EmulatorProcess, drop_database, make_dataset, scene_jpegs


def sequential_rate(base_url: str, paths: list[Path]) -> float:
    """Requests per second of a sequential loop: one image, one request, one answer at a time."""
    from gemini_vision.api import GeminiClient, answer_text, wire
    from gemini_vision.tasks import TaskSpec, build_request, interpret_answer

    task = TaskSpec(kind="detect")
    times = []
    with GeminiClient(KEY, base_url=base_url) as client:
        for path in paths:
            started = time.perf_counter()
            part = wire.Part.from_bytes(path.read_bytes(), "image/jpeg")
            request = build_request(task, [part], model="gemini-2.5-flash")
            interpret_answer(
                task, answer_text(client.generate_content("gemini-2.5-flash", request))
            )
            times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


def engine_rate(
    emu: EmulatorProcess, dataset: object, concurrency: int, field: str
) -> tuple[float, dict, float, float]:
    """Samples per second of one run_task, its report, and the CPU busy fraction (of one
    core) of the emulator and of this process over the run."""
    from gemini_vision import RunSettings, TaskSpec, run_task

    settings = RunSettings(
        api_key=KEY, base_url=emu.base_url, concurrency=concurrency, use_cache=False
    )
    emu_cpu, our_cpu = emu.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    summary = run_task(dataset, TaskSpec(kind="detect"), field, settings=settings)
    elapsed = time.perf_counter() - started
    emu_busy = (emu.cpu_seconds() - emu_cpu) / elapsed
    our_busy = (time.process_time() - our_cpu) / elapsed
    return summary.report["labelled"] / elapsed, summary.report, emu_busy, our_busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = scene_jpegs(Path(tmp), args.samples)
        dataset = make_dataset(paths)
        try:
            with EmulatorProcess(latency=args.latency) as emu:
                seq = sequential_rate(emu.base_url, paths[: args.sequential])
                print(f"samples {args.samples}, latency {args.latency * 1000:.0f} ms")
                print(f"sequential loop: {seq:.2f} samples/s")
                for concurrency in args.concurrency:
                    rates, busy = [], []
                    for repeat in range(args.repeats):
                        field = f"pred_c{concurrency}_{repeat}"
                        rate, report, emu_busy, our_busy = engine_rate(
                            emu, dataset, concurrency, field
                        )
                        assert report["failed"] == 0, report
                        rates.append(rate)
                        busy.append((emu_busy, our_busy))
                    ideal = concurrency / args.latency
                    ours = statistics.median(rates)
                    runs = ", ".join(f"{r:.1f}" for r in rates)
                    print(
                        f"concurrency {concurrency:3d}: {ours:7.1f} samples/s (runs: {runs}); "
                        f"ideal {ideal:.1f} -> {ours / ideal:.3f} x ideal; "
                        f"{ours / seq:.1f} x sequential"
                    )
                    emu_busy, our_busy = busy[rates.index(ours)] if ours in rates else busy[0]
                    print(
                        f"{'':17}CPU busy (of one core): emulator {emu_busy:.0%}, "
                        f"engine process {our_busy:.0%}"
                    )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
