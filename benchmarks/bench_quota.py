"""Pacing under a per-minute quota: how close to the quota we run, and how many 429s it costs.

The emulator (own process) enforces a quota of requests (and input tokens) per minute per
model over sliding 60 s windows, answering 429 RESOURCE_EXHAUSTED with a RetryInfo delay
beyond it, like Gemini. Each request takes ``--latency`` seconds. We label ``--samples``
samples with :func:`gemini_vision.run_task` and count, at the emulator, every answer by status.

- configured: the run is told its quota (``requests_per_minute=...``, or ``tier="tier3"``,
  whose published numbers live in ``gemini_vision.catalog``); achieved rate = samples / wall
  time. Goal: >= 0.95 x quota with < 1 % of requests answered 429.
- adaptive (``--adaptive``): no quota given; the limiter learns it from the server's 429s
  (a long retry delay after a full window gives the quota away) - reported for information.

Run: ``.venv/bin/python benchmarks/bench_quota.py [--samples 400] [--adaptive]`` (300 RPM,
100 ms) and, at Tier 3 for 2.5 Flash (10,000 RPM, 8M TPM, 1.5 s latency, ~8 min):
``.venv/bin/python benchmarks/bench_quota.py --tier tier3 --latency 1.5 --concurrency 320
--samples 20000 --repeats 3``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import KEY, EmulatorProcess, drop_database, make_dataset, responses, scene_jpegs


def run(
    emu: EmulatorProcess,
    dataset: object,
    field: str,
    rpm: float | None,
    *,
    tier: str | None = None,
    concurrency: int = 16,
) -> dict:
    from gemini_vision import RunSettings, TaskSpec, run_task

    emu.reset()
    settings = RunSettings(
        api_key=KEY,
        base_url=emu.base_url,
        concurrency=concurrency,
        requests_per_minute=None if tier else rpm,
        tier=tier,
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
        "emulator_peak_connections": emu.stats()["peak_connections"],
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
    from gemini_vision.catalog import tier_quota

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--quota", type=int, default=300, help="requests per minute")
    parser.add_argument("--tier", help="the run and the emulator take this tier's quota")
    parser.add_argument("--model", default="gemini-2.5-flash")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--adaptive", action="store_true", help="also run without a quota set")
    args = parser.parse_args()
    rpm, tpm = tier_quota(args.model, args.tier) if args.tier else (args.quota, None)
    assert rpm is not None, f"no published requests-per-minute quota for {args.tier}"
    with tempfile.TemporaryDirectory() as tmp:
        # the adaptive run gets samples of its own (other bytes: nothing to learn from the first)
        paths = scene_jpegs(Path(tmp), args.samples * (2 if args.adaptive else 1))
        first = make_dataset(paths[: args.samples])
        try:
            with EmulatorProcess(rpm=rpm, tpm=tpm, latency=args.latency) as emu:
                print(
                    f"quota {rpm} requests/min"
                    + (f" and {tpm:,} input tokens/min ({args.tier})" if tpm else "")
                    + f" (sliding 60 s windows), {args.latency * 1000:.0f} ms latency, "
                    f"{args.concurrency} in flight at most"
                )
                results = [
                    run(emu, first, f"pred_{i}", rpm, tier=args.tier, concurrency=args.concurrency)
                    for i in range(args.repeats)
                ]
                for result in results:
                    show("configured", result, rpm)
                if args.repeats > 1:
                    median = statistics.median(r["per_minute"] for r in results)
                    worst = max(r["429"] / max(r["requests"], 1) for r in results)
                    verdict = "PASS" if median >= 0.95 * rpm and worst < 0.01 else "FAIL"
                    print(
                        f"median of {args.repeats}: {median:.0f} requests/min = "
                        f"{median / rpm:.3f} x quota; at most {worst:.2%} answered 429 {verdict}"
                    )
                if args.adaptive:
                    time.sleep(61)  # an empty window: both start alike
                    second = make_dataset(paths[args.samples :])
                    show("adaptive  ", run(emu, second, "pred", None), rpm)
        finally:
            drop_database()


if __name__ == "__main__":
    main()
