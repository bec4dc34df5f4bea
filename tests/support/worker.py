"""A worker process for the crash and scale-out tests (run as a script, killed at will).

``python tests/support/worker.py run DATASET FIELD --mode online|batch [--concurrency N]
[--lease S]``: runs detection over the persistent dataset with ``run_task``.
``python tests/support/worker.py delegated OP_ID``: executes one queued delegated operation, as a
``fiftyone delegated launch`` worker would.

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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import fiftyone as fo

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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
