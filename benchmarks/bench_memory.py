"""Memory stays flat with the number of samples: peak RSS of a run over 1k vs 20k samples.

Each run happens in a fresh process that loads a persistent dataset (made beforehand, by this
script) and labels every sample with :func:`gemini_vision.run_task` (detection, cache off, so
every sample is a real request with its own image bytes). The process reports its RSS once the
dataset is loaded and its peak RSS (``ru_maxrss``) at the end. The emulator answers at once,
in its own process.

Goal: peak RSS growth < 200 MB from 1k to 20k samples.

Run: ``.venv/bin/python benchmarks/bench_memory.py [--sizes 1000 20000]``
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

from _common import KEY, EmulatorProcess, drop_database, make_dataset, scene_jpegs


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(name: str, base_url: str) -> None:
    """One measured run (in its own process)."""
    import fiftyone as fo

    from gemini_vision import RunSettings, TaskSpec, run_task

    dataset = fo.load_dataset(name)
    count = len(dataset)
    loaded = rss_mb()
    settings = RunSettings(api_key=KEY, base_url=base_url, use_cache=False)
    started = time.perf_counter()
    summary = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "samples": count,
        "labelled": summary.report["labelled"],
        "loaded_mb": loaded,
        "peak_mb": peak,
        "seconds": elapsed,
    }
    print(json.dumps(result), flush=True)


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
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
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
                    print(
                        f"{size:6d} samples: {result['seconds']:6.1f} s "
                        f"({size / result['seconds']:.0f} samples/s); RSS after loading the "
                        f"dataset {result['loaded_mb']:.0f} MB, peak {result['peak_mb']:.0f} MB"
                    )
            growth = results[-1]["peak_mb"] - results[0]["peak_mb"]
            print(
                f"peak RSS growth from {args.sizes[0]} to {args.sizes[-1]} samples: "
                f"{growth:.0f} MB"
            )
        finally:
            drop_database()


if __name__ == "__main__":
    main()
