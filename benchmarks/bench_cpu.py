"""CPU per labelled sample: this process's CPU time for each sample run_task labels, today's
code against an earlier revision's, in one run, and where the time goes.

Each measured run is a fresh process that imports the engine - from this checkout, or from
``--baseline`` (a git revision whose ``plugin/`` is extracted to a temporary folder) - and
labels ``--samples`` distinct 640 x 480 JPEGs (passed through unchanged) with
:func:`gemini_vision.run_task`: detection, then segmentation (about 5 objects with a mask
each), cache off, 32 requests in flight. The emulator (this checkout's, in its own process)
answers at once, so the CPU time is the engine's own: user + system time of the run (from
``resource``), divided by the samples labelled. Runs alternate between the two revisions,
``--repeats`` times each; medians are printed with the ratio.

For this checkout, one more run splits the time by where it is spent (thread CPU time of each
step, summed over threads): image preparation, request encoding (base64, the request, its cache key
and its JSON), reading the answer's JSON, parsing the answer, turning it into the documents
FiftyOne stores (mask decoding included) and writing them to MongoDB; the rest is the event
loop and HTTP (aiohttp) plus thread hand-offs.

Goal: at most half of today's CPU per sample, for detection and for segmentation.

Run: ``.venv/bin/python benchmarks/bench_cpu.py [--baseline b01eb88] [--samples 1000]``
(~4 min)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import KEY, EmulatorProcess, drop_database, make_dataset, scene_jpegs

ROOT = Path(__file__).resolve().parent.parent
#: the last commit before the work on throughput at the quota began
DEFAULT_BASELINE = "b01eb88"
KINDS = ("detect", "segment")

#: step -> (module, attribute, method of a class or None): timed with thread CPU time
STEPS = {
    "image preparation": ("gemini_vision.engine.requests", "RequestBuilder", "prepare"),
    "request encoding": ("gemini_vision.engine.requests", "RequestBuilder", "build"),
    "request JSON": ("gemini_vision.api.operations", "Operations", "request"),
    "answer JSON": ("gemini_vision.api.operations", "Operations", "parse"),
    "parsing": ("gemini_vision.engine.asker", None, "read_response"),
    "label documents (masks decoded)": ("gemini_vision.adapters.labels", "LabelWriter", "convert"),
    "MongoDB writes": ("gemini_vision.adapters.labels", "LabelWriter", "__call__"),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def instrument() -> dict[str, float]:
    """Wraps each step of :data:`STEPS` to add its thread CPU time to the returned dict."""
    import functools
    import importlib

    spent = dict.fromkeys(STEPS, 0.0)
    for step, (module_name, owner_name, attribute) in STEPS.items():
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, attribute)

        def timed(*args: Any, _original: Any = original, _step: str = step, **kw: Any) -> Any:
            started = time.thread_time()
            try:
                return _original(*args, **kw)
            finally:
                spent[_step] += time.thread_time() - started

        setattr(owner, attribute, functools.wraps(original)(timed))
    return spent


def child(name: str, base_url: str, kind: str, profile: bool) -> None:
    """One measured run, in its own process; prints a JSON line."""
    import fiftyone as fo

    from gemini_vision import RunSettings, TaskSpec, run_task

    spent = instrument() if profile else {}
    dataset = fo.load_dataset(name)
    settings = RunSettings(api_key=KEY, base_url=base_url, use_cache=False, concurrency=32)
    run_task(dataset.limit(20), TaskSpec(kind=kind), "warm_up", settings=settings)
    for step in spent:
        spent[step] = 0.0
    field = f"pred_{kind}_{os.getpid()}"
    cpu, main_thread, started = cpu_seconds(), time.thread_time(), time.perf_counter()
    summary = run_task(dataset, TaskSpec(kind=kind), field, settings=settings)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    main_thread = time.thread_time() - main_thread
    labelled = summary.report["labelled"]
    result = {
        "labelled": labelled,
        "failed": summary.report["failed"],
        "cpu_ms": cpu / labelled * 1000,
        "rate": labelled / elapsed,
        "objects": dataset.count(f"{field}.detections"),
        "masks": dataset.count(f"{field}.detections.mask"),
        "steps_ms": {step: seconds / labelled * 1000 for step, seconds in spent.items()},
        "main_thread_ms": main_thread / labelled * 1000,
    }
    print(json.dumps(result), flush=True)


def baseline_path(revision: str, folder: Path) -> Path:
    """A folder to put first on PYTHONPATH so that ``gemini_vision`` is ``revision``'s."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "plugin"],
        check=True,
        capture_output=True,
    ).stdout
    tar_path = folder / "plugin.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(folder / "tree", filter="data")
    (folder / "path").mkdir()
    (folder / "path" / "gemini_vision").symlink_to(folder / "tree" / "plugin")
    return folder / "path"


def measure(
    name: str, base_url: str, kind: str, path: Path | None, *, profile: bool = False
) -> dict[str, Any]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    command = [sys.executable, __file__, "--child", name, base_url, kind]
    if profile:
        command.append("--profile")
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert result["failed"] == 0 and result["labelled"] > 0, result
    return result


def report(
    kind: str,
    today: list[dict[str, Any]],
    ours: list[dict[str, Any]],
    profiled: dict[str, Any],
    rev: str,
) -> None:
    before = statistics.median(r["cpu_ms"] for r in today)
    after = statistics.median(r["cpu_ms"] for r in ours)
    verdict = "PASS" if after <= before / 2 else "FAIL"
    runs = "; ".join(
        f"{a['cpu_ms']:.2f} vs {b['cpu_ms']:.2f}" for a, b in zip(ours, today, strict=True)
    )
    print(
        f"{kind:8s}: {after:.2f} ms of CPU per sample, {rev} {before:.2f} ms -> "
        f"{after / before:.2f} x {verdict} (runs, ours vs {rev}: {runs}); "
        f"{statistics.median(r['rate'] for r in ours):.0f} vs "
        f"{statistics.median(r['rate'] for r in today):.0f} samples/s; "
        f"{ours[0]['objects'] / ours[0]['labelled']:.1f} objects and "
        f"{ours[0]['masks'] / ours[0]['labelled']:.1f} masks per sample"
    )
    steps = profiled["steps_ms"]
    rest = profiled["cpu_ms"] - sum(steps.values())
    parts = ", ".join(f"{step} {ms:.2f}" for step, ms in steps.items())
    print(
        f"{'':10}where it goes (one more run, each step timed: {profiled['cpu_ms']:.2f} ms in "
        f"all): {parts}; event loop, HTTP and thread hand-offs {rest:.2f} (the event loop's "
        f"thread: {profiled['main_thread_ms']:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("DATASET", "BASE_URL", "KIND"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(*args.child, profile=args.profile)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = baseline_path(args.baseline, folder)
        images = scene_jpegs(folder / "images", args.samples, size=(640, 480))
        name = f"bench-cpu-{os.getpid()}"
        make_dataset(images, name=name)
        print(f"{args.samples} distinct 640x480 JPEGs, 0 latency, 32 in flight, cache off")
        try:
            with EmulatorProcess() as emu:
                for kind in KINDS:
                    today: list[dict[str, Any]] = []
                    ours: list[dict[str, Any]] = []
                    for _ in range(args.repeats):
                        today.append(measure(name, emu.base_url, kind, path))
                        ours.append(measure(name, emu.base_url, kind, None))
                    profiled = measure(name, emu.base_url, kind, None, profile=True)
                    report(kind, today, ours, profiled, args.baseline)
        finally:
            drop_database()


if __name__ == "__main__":
    main()
