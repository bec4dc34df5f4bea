"""A worker process for the crash and scale-out tests (run as a script, killed at will).

``python tests/support/worker.py run DATASET FIELD --mode online|batch [--concurrency N]
[--lease S]``: runs detection over the persistent dataset with ``run_task``.
``python tests/support/worker.py delegated OP_ID``: executes one queued delegated operation, as a
``fiftyone delegated launch`` worker would.
``python tests/support/worker.py fresh DIR COUNT``: labels a new dataset of COUNT images (in
the database the environment names) and prints the outcome as one JSON line.

The environment carries the database name, the emulator's base URL and the (fake) key.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("dataset")
    run.add_argument("field")
    run.add_argument("--mode", default="online")
    run.add_argument("--concurrency", type=int, default=4)
    run.add_argument("--lease", type=float, default=2.0)
    run.add_argument("--poll", type=float, default=0.2)
    delegated = sub.add_parser("delegated")
    delegated.add_argument("op_id")
    fresh = sub.add_parser("fresh")
    fresh.add_argument("images")
    fresh.add_argument("count", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import fiftyone as fo

    if args.command == "fresh":
        return _fresh(args.images, args.count)
    if args.command == "delegated":
        from bson import ObjectId
        from fiftyone.operators.delegated import DelegatedOperationService

        service = DelegatedOperationService()
        service.execute_operation(service.get(ObjectId(args.op_id)))
        return 0

    from gemini_vision import RunSettings, run_task
    from gemini_vision.engine.batch import BatchSettings
    from gemini_vision.tasks.spec import TaskSpec

    dataset = fo.load_dataset(args.dataset)
    settings = RunSettings(
        mode=args.mode,
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        batch=BatchSettings(poll_interval=args.poll, max_poll_interval=args.poll),
    )
    run_task(dataset, TaskSpec(kind="detect"), args.field, settings=settings)
    return 0


def _fresh(images: str, count: int) -> int:
    """Labels a new dataset of ``count`` images in this process's own database, printing a
    line once it starts and, at the end, the run's outcome or its error - one line."""
    import json
    from pathlib import Path

    import fiftyone as fo

    from gemini_vision import RunSettings, run_task
    from gemini_vision.tasks import TaskSpec

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from support.datasets import write_variants

    files = write_variants(Path(images), count, bases=10, seed=3)
    dataset = fo.Dataset()
    dataset.add_samples([fo.Sample(filepath=str(p)) for p, _ in files], progress=False)
    print("started", flush=True)
    settings = RunSettings(concurrency=4, use_cache=False, lease_seconds=30)
    try:
        summary = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings)
        print(json.dumps({"report": summary.report}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
