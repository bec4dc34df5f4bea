"""Pacing under a per-minute quota: how close to the quota we run, and how many 429s it costs.

The emulator (own process) enforces 300 requests per minute per model over a sliding 60 s
window, answering 429 RESOURCE_EXHAUSTED with a RetryInfo delay beyond it, like Gemini. Each
request takes 100 ms. We label ``--samples`` samples with :func:`gemini_vision.run_task` and
count, at the emulator, every answer by status.

- configured: ``requests_per_minute=300`` (what the user's tier grants, or ``tier=...``);
  achieved rate = samples / wall time. Goal: >= 0.95 x quota with < 1 % of requests answered
  429.
- adaptive (``--adaptive``): no quota given; the limiter learns it from the server's 429s
  (a long retry delay after a full window gives the quota away) - reported for information.

Run: ``.venv/bin/python benchmarks/bench_quota.py [--samples 400] [--adaptive]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import KEY, EmulatorProcess, drop_database, make_dataset, responses, scene_jpegs


def run(emu: EmulatorProcess, dataset: object, field: str, rpm: float | None) -> dict:
    from gemini_vision import RunSettings, TaskSpec, run_task

    emu.reset()
    settings = RunSettings(
        api_key=KEY,
        base_url=emu.base_url,
        concurrency=16,
        requests_per_minute=rpm,
        use_cache=False,
    )
    started = time.perf_counter()
    summary = run_task(dataset, TaskSpec(kind="detect"), field, settings=settings)
    elapsed = time.perf_counter() - started
    answered = responses(emu.stats())
    total = sum(answered.values())
    return {
        "labelled": summary.report["labelled"],
        "failed": summary.report["failed"],
        "elapsed": elapsed,
        "per_minute": summary.report["labelled"] / elapsed * 60,
        "requests": total,
        "429": answered.get(429, 0),
    }


def show(name: str, result: dict, quota: int) -> None:
    share = result["429"] / max(result["requests"], 1)
    print(
        f"{name}: {result['labelled']} labelled ({result['failed']} failed) in "
        f"{result['elapsed']:.1f} s -> {result['per_minute']:.1f} requests/min = "
        f"{result['per_minute'] / quota:.3f} x quota; {result['429']} of {result['requests']} "
        f"requests answered 429 ({share:.2%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--quota", type=int, default=300)
    parser.add_argument("--adaptive", action="store_true", help="also run without a quota set")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = scene_jpegs(Path(tmp), args.samples * 2)
        first = make_dataset(paths[: args.samples])
        second = make_dataset(paths[args.samples :])
        try:
            with EmulatorProcess(rpm=args.quota, latency=0.1) as emu:
                print(f"quota {args.quota} requests/min (sliding 60 s window), 100 ms latency")
                show("configured", run(emu, first, "pred", args.quota), args.quota)
                if args.adaptive:
                    time.sleep(61)  # an empty window: both start alike
                    show("adaptive  ", run(emu, second, "pred", None), args.quota)
        finally:
            drop_database()


if __name__ == "__main__":
    main()
