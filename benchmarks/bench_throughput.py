"""Throughput under latency: the engine vs the ideal vs a sequential loop.

A dataset of ``--samples`` samples (distinct JPEG bytes, so neither cache nor in-flight
coalescing helps; ``--size`` pixels, passed through unchanged) is labelled with object
detection through :func:`gemini_vision.run_task` - the whole path: paging and claiming
samples, preparing images, requests, parsing, labels written to FiftyOne in bulk, the run
record. The emulator answers every request after ``--latency`` seconds, in its own process
(one thread per connection); it reports the most connections it held at once.

- ideal: ``concurrency / latency`` requests per second (no quota here);
- sequential loop: what the Python examples of Google's "Image understanding" guide for the
  Gemini API do - read a file, send one request, wait for the answer, parse it, next - timed
  over the first samples (``--sequential``);
- ours: samples per second over the whole run (wall clock), median of ``--repeats`` runs.

Goals: ours >= 0.9 x ideal and >= 15 x the sequential loop (1,000 samples of 160 x 120, 500 ms,
16 in flight); at real latency, >= 0.9 x ideal with 2 s of latency and 400 requests in flight
over 5,000 COCO-sized JPEGs:

Run: ``.venv/bin/python benchmarks/bench_throughput.py [--samples 1000] [--concurrency 16 64]``
and ``.venv/bin/python benchmarks/bench_throughput.py --samples 5000 --size 640 480
--latency 2 --concurrency 400 --sequential 0`` (~3 min)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()

    def progress(state: Any) -> None:
        marks.append((time.perf_counter() - started, state.done))

    summary = run_task(
        dataset, TaskSpec(kind="detect"), field, settings=settings, progress=progress
    )
    elapsed = time.perf_counter() - started
    emu_busy = (emu.cpu_seconds() - emu_cpu) / elapsed
    our_busy = (time.process_time() - our_cpu) / elapsed
    report = dict(summary.report, steady_rate=steady_rate(marks, summary.report["labelled"]))
    return summary.report["labelled"] / elapsed, report, emu_busy, our_busy


def steady_rate(marks: list[tuple[float, int]], total: int) -> float:
    """Samples per second between 10 % and 90 % of the samples written: the pace once the
    first answers are in (they take one latency) and before the last ones drain."""
    inside = [(t, done) for t, done in marks if 0.1 * total <= done <= 0.9 * total]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return float("nan")
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=20, help="0: skip that loop")
    parser.add_argument("--size", type=int, nargs=2, default=[160, 120], metavar=("W", "H"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = scene_jpegs(Path(tmp), args.samples, size=(args.size[0], args.size[1]))
        dataset = make_dataset(paths)
        try:
            with EmulatorProcess(latency=args.latency) as emu:
                seq = (
                    sequential_rate(emu.base_url, paths[: args.sequential])
                    if args.sequential
                    else 0.0
                )
                print(
                    f"samples {args.samples} of {args.size[0]}x{args.size[1]} "
                    f"({sum(p.stat().st_size for p in paths) / len(paths) / 1000:.0f} kB "
                    f"JPEGs), latency {args.latency * 1000:.0f} ms"
                )
                if args.sequential:
                    print(f"sequential loop: {seq:.2f} samples/s")
                for concurrency in args.concurrency:
                    rates, busy, steady = [], [], []
                    emu.reset()
                    for repeat in range(args.repeats):
                        field = f"pred_c{concurrency}_{repeat}"
                        rate, report, emu_busy, our_busy = engine_rate(
                            emu, dataset, concurrency, field
                        )
                        assert report["failed"] == 0, report
                        rates.append(rate)
                        steady.append(report["steady_rate"])
                        busy.append((emu_busy, our_busy))
                    ideal = concurrency / args.latency
                    ours = statistics.median(rates)
                    runs = ", ".join(f"{r:.1f}" for r in rates)
                    print(
                        f"concurrency {concurrency:3d}: {ours:7.1f} samples/s (runs: {runs}); "
                        f"ideal {ideal:.1f} -> {ours / ideal:.3f} x ideal"
                        + (f"; {ours / seq:.1f} x sequential" if seq else "")
                    )
                    paced = statistics.median(steady)
                    print(
                        f"{'':17}steady pace (10-90 % of the samples written): {paced:.1f} "
                        f"samples/s = {paced / ideal:.3f} x ideal; whole run includes one "
                        f"latency before the first answer and the drain of the last"
                    )
                    emu_busy, our_busy = busy[rates.index(ours)] if ours in rates else busy[0]
                    print(
                        f"{'':17}CPU busy (of one core): emulator {emu_busy:.0%}, "
                        f"engine process {our_busy:.0%}; the emulator held up to "
                        f"{emu.stats()['peak_connections']} connections at once"
                    )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
