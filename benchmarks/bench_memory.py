"""Memory and pace stay flat with the number of samples: a run over 1k vs 100k samples.

Each run happens in a fresh process that loads a persistent dataset (made beforehand, by this
script) and labels every sample with :func:`gemini_vision.run_task` (detection, cache off, so
every sample is a real request with its own image bytes). The process reports its RSS once the
dataset is loaded, the peak RSS of the run (reset once the dataset is loaded: importing
FiftyOne alone peaks higher with a bigger database, before any work), and when each batch of
labels was written (the run's progress), from which the time per sample of the first and of
the last 10 % of the run are read. The emulator answers at once, in its own process.

Goals: peak RSS growth < 200 MB from 1k to 100k samples; the last 10 % of the big run no
more than 10 % slower per sample than its first 10 %.

Run: ``.venv/bin/python benchmarks/bench_memory.py [--sizes 1000 100000]`` (~10 min)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import KEY, EmulatorProcess, drop_database, make_dataset, scene_jpegs


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Starts the peak RSS afresh (Linux: ``/proc/self/clear_refs``); False if it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak RSS since the last reset (VmHWM), or of the whole process (``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(name: str, base_url: str) -> None:
    """One measured run (in its own process)."""
    import fiftyone as fo

    from gemini_vision import RunSettings, TaskSpec, run_task

    dataset = fo.load_dataset(name)
    count = len(dataset)
    loaded = rss_mb()
    # importing FiftyOne peaks higher with a bigger database, before any sample is labelled:
    # the run's own peak is measured from here
    before_run = peak_rss_mb()
    reset = reset_peak_rss()
    settings = RunSettings(api_key=KEY, base_url=base_url, use_cache=False)
    marks: list[tuple[float, int]] = []  # (seconds since the start, samples written)
    started = time.perf_counter()

    def progress(state: Any) -> None:
        marks.append((time.perf_counter() - started, state.done))

    summary = run_task(
        dataset, TaskSpec(kind="detect"), "pred", settings=settings, progress=progress
    )
    elapsed = time.perf_counter() - started
    peak = peak_rss_mb()
    result = {
        "samples": count,
        "labelled": summary.report["labelled"],
        "loaded_mb": loaded,
        "peak_mb": peak,
        "peak_before_run_mb": before_run,
        "peak_of_run_only": reset,
        "seconds": elapsed,
        "first_tenth": seconds_per_sample(marks, 0.0, 0.1, count),
        "last_tenth": seconds_per_sample(marks, 0.9, 1.0, count),
        "tenths": [seconds_per_sample(marks, i / 10, (i + 1) / 10, count) for i in range(10)],
    }
    print(json.dumps(result), flush=True)


def seconds_per_sample(
    marks: list[tuple[float, int]], start: float, end: float, count: int
) -> float:
    """Seconds per sample between ``start * count`` and ``end * count`` samples written,
    read off the progress marks (linear between two marks)."""

    def time_at(done: float) -> float:
        before = (0.0, 0)
        for mark in marks:
            if mark[1] >= done:
                t0, d0 = before
                t1, d1 = mark
                return t0 + (t1 - t0) * (done - d0) / max(d1 - d0, 1)
            before = mark
        return marks[-1][0]

    return (time_at(end * count) - time_at(start * count)) / ((end - start) * count)


def measure(name: str, base_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, base_url],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "BASE_URL"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = scene_jpegs(Path(tmp), max(args.sizes))
        try:
            results = []
            with EmulatorProcess() as emu:
                for size in args.sizes:
                    name = f"bench-memory-{size}-{os.getpid()}"
                    make_dataset(paths[:size], name=name)
                    result = measure(name, emu.base_url)
                    assert result["labelled"] == size, result
                    results.append(result)
                    first, last = result["first_tenth"], result["last_tenth"]
                    print(
                        f"{size:6d} samples: {result['seconds']:6.1f} s "
                        f"({size / result['seconds']:.0f} samples/s); RSS after loading the "
                        f"dataset {result['loaded_mb']:.0f} MB, peak during the run "
                        f"{result['peak_mb']:.0f} MB (before it, importing FiftyOne: "
                        f"{result['peak_before_run_mb']:.0f} MB); "
                        f"per sample: first 10 % {first * 1000:.2f} ms, last 10 % "
                        f"{last * 1000:.2f} ms ({last / first:.3f} x); each tenth: "
                        + ", ".join(f"{t * 1000:.2f}" for t in result["tenths"])
                    )
            growth = results[-1]["peak_mb"] - results[0]["peak_mb"]
            pace = results[-1]["last_tenth"] / results[-1]["first_tenth"]
            print(
                f"peak RSS growth from {args.sizes[0]} to {args.sizes[-1]} samples: "
                f"{growth:.0f} MB ({'PASS' if growth < 200 else 'FAIL'}: < 200 MB); last 10 % "
                f"of the {args.sizes[-1]} run at {pace:.3f} x the first 10 %'s time per sample "
                f"({'PASS' if pace <= 1.1 else 'FAIL'}: <= 1.1 x)"
            )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
