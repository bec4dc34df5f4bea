"""The demo: generated scenes with ground truth → Gemini detection, segmentation and
classification → FiftyOne evaluation → a short table. ``make demo`` runs it.

With no ``GEMINI_API_KEY`` in the environment it starts the local emulator and says so; with a
key it calls the real Gemini API. ``--app`` opens the FiftyOne App on the result.

    python -m gemini_vision.adapters.demo [--samples 12] [--model gemini-2.5-flash] [--app]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

import fiftyone as fo

from gemini_vision.adapters.evaluation import evaluate
from gemini_vision.adapters.runner import RunSettings, RunSummary, run_task
from gemini_vision.adapters.synthetic import (
    DEFAULT_FORMATS,
    GT_CLASSIFICATION,
    GT_DETECTIONS,
    GT_SEGMENTATION,
    make_scene_dataset,
)
from gemini_vision.catalog import DEFAULT_MODEL, price_for
from gemini_vision.emulator import Emulator
from gemini_vision.tasks import TaskKind, TaskSpec

DATASET_NAME = "gemini-vision-demo"


@contextlib.contextmanager
def gemini_endpoint(api_key: str | None) -> Iterator[RunSettings]:
    """Real Gemini when a key is set; otherwise the local emulator, said plainly."""
    if api_key:
        print("GEMINI_API_KEY is set: calling the real Gemini API (this costs a little money).")
        yield RunSettings()
        return
    print("No GEMINI_API_KEY in the environment: using the local Gemini emulator.")
    with Emulator() as emulator:
        print(f"  emulator listening at {emulator.base_url} (no internet needed)")
        # the App (--app) inherits these, so its operators reach the same emulator
        os.environ["GOOGLE_GEMINI_BASE_URL"] = emulator.base_url
        os.environ["GEMINI_API_KEY"] = "demo-key-for-the-local-emulator"
        try:
            yield RunSettings(base_url=emulator.base_url)
        finally:
            for name in ("GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"):
                os.environ.pop(name, None)


def _row(name: str, summary: RunSummary, metrics: dict[str, Any], seconds: float) -> list[str]:
    report = summary.report
    cost = price_for(summary.model).cost(report["input_tokens"], report["output_tokens"])
    quality = (
        f"mAP {metrics['mAP']:.3f}"
        if metrics.get("mAP") is not None
        else f"mask IoU {metrics['mean_matched_iou']:.3f}"
        if metrics.get("mean_matched_iou") is not None
        else f"accuracy {metrics.get('accuracy', 0):.3f}"
    )
    return [
        name,
        f"{report['labelled']}/{summary.total}",
        _fmt(metrics.get("precision")),
        _fmt(metrics.get("recall")),
        quality,
        f"{report['input_tokens'] + report['output_tokens']:,}"
        + (f" ({report['from_cache']} cached)" if report.get("from_cache") else ""),
        f"${cost:.4f}",
        f"{seconds:.1f} s",
    ]


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _table(rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, a rule under the header (as in the README)."""
    header = ["task", "samples", "precision", "recall", "quality", "tokens", "cost", "time"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _timed(
    name: str,
    dataset: fo.Dataset,
    task: TaskSpec,
    field: str,
    settings: RunSettings,
    **options: Any,
) -> tuple[RunSummary, float]:
    print(f"Running {name} with {settings.model} ...")
    started = time.monotonic()
    summary = run_task(dataset, task, field, settings=settings, **options)
    if summary.report.get("stopped_reason"):
        print(f"  stopped: {summary.report['stopped_reason']}")
    return summary, time.monotonic() - started


def _steps(classes: tuple[str, ...]) -> list[tuple[str, TaskSpec, str, dict[str, Any]]]:
    """(name, task, output field, run_task options) of the demo's three runs. The semantic
    field follows the ground-truth segmentation's mask targets."""
    return [
        (
            "detect",
            TaskSpec(kind=TaskKind.DETECT, classes=classes, with_confidence=True),
            "gemini_detections",
            {"gt_field": GT_DETECTIONS, "eval_key": "eval_detect"},
        ),
        (
            "segment",
            TaskSpec(kind=TaskKind.SEGMENT, classes=classes),
            "gemini_instances",
            {
                "semantic_field": "gemini_segmentation",
                "gt_field": GT_SEGMENTATION,
                "eval_key": "eval_semantic",
            },
        ),
        (
            "classify",
            TaskSpec(kind=TaskKind.CLASSIFY, classes=classes),
            "gemini_classification",
            {"gt_field": GT_CLASSIFICATION, "eval_key": "eval_classify"},
        ),
    ]


def _semantic_row(instances_row: list[str], semantic: dict[str, Any]) -> list[str]:
    quality = f"mean IoU {_fmt(semantic.get('mean_iou'))}"
    precision, recall = _fmt(semantic.get("precision")), _fmt(semantic.get("recall"))
    return ["  semantic", instances_row[1], precision, recall, quality, "-", "-", "-"]


def run_demo(samples: int, model: str, directory: Path, base: RunSettings) -> fo.Dataset:
    """Generates ``samples`` scenes, runs detection, segmentation (instances and semantic) and
    classification with ``model``, evaluates each against the ground truth and prints the
    table; returns the dataset (kept, with its labels and evaluations)."""
    started = time.monotonic()
    print(f"Generating {samples} scenes with ground truth in {directory} ...")
    # no HEIC here: browsers cannot show it, so the App would draw empty tiles
    formats = [f for f in DEFAULT_FORMATS if f.suffix != ".heic"]
    dataset = make_scene_dataset(
        directory, count=samples, name=DATASET_NAME, persistent=True, formats=formats
    )
    classes = tuple(dataset.distinct(f"{GT_DETECTIONS}.detections.label"))
    settings = RunSettings(model=model, base_url=base.base_url, overwrite=True)
    rows = []
    for name, task, field, options in _steps(classes):
        summary, seconds = _timed(name, dataset, task, field, settings, **options)
        if name != "segment":
            rows.append(_row(name, summary, summary.evaluation or {}, seconds))
            continue
        # the segment row scores the instances; the semantic row, the semantic field
        instances = evaluate(dataset, field, GT_DETECTIONS, "eval_segment")
        rows.append(_row(name, summary, instances, seconds))
        rows.append(_semantic_row(rows[-1], summary.evaluation or {}))
    _print_results(rows, started)
    return dataset


def _print_results(rows: list[list[str]], started: float) -> None:
    print()
    print(_table(rows))
    if any("cached" in row[5] for row in rows):
        print(
            "(cached: answered from the response cache of an earlier run, so no tokens were "
            "spent; the cache lives in FiftyOne's database, collection gemini_vision_responses)"
        )
    print()
    print(
        f"Done in {time.monotonic() - started:.0f} s. Dataset '{DATASET_NAME}' keeps the labels "
        "and evaluations (see the App's Model Evaluation panel)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12, help="number of generated scenes")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Gemini model id")
    parser.add_argument(
        "--dir", type=Path, default=Path("demo-data"), help="where to write the images"
    )
    parser.add_argument("--app", action="store_true", help="open the FiftyOne App afterwards")
    args = parser.parse_args(argv)
    with gemini_endpoint(os.environ.get("GEMINI_API_KEY")) as base:
        dataset = run_demo(args.samples, args.model, args.dir.resolve(), base)
        if args.app:
            open_app(dataset)
    return 0


#: the plugin as FiftyOne names it (fiftyone.yml)
PLUGIN_NAME = "@gemini-vision/gemini"


def plugin_folder() -> Path | None:
    """The plugin folder this engine came with (a clone or a downloaded plugin), if any."""
    folder = Path(__file__).resolve().parents[2]
    return folder if (folder / "fiftyone.yml").is_file() else None


def make_operators_available() -> str:
    """Makes FiftyOne find this plugin's operators (it looks in one plugins folder); returns
    what was done, in words."""
    import fiftyone.plugins as fop

    if any(p.name == PLUGIN_NAME for p in fop.list_plugins()):
        return "the Gemini operators are installed"
    folder = plugin_folder()
    if folder is None:
        return (
            "the Gemini operators are not installed: run `fiftyone plugins download "
            "https://github.com/gemini-vision/fiftyone-gemini-vision` to use them in the App"
        )
    # the App's server is another process: it reads the environment
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(folder)
    fo.config.plugins_dir = str(folder)
    return f"the Gemini operators are loaded from {folder} (FIFTYONE_PLUGINS_DIR)"


def open_app(dataset: fo.Dataset) -> None:
    """Opens the App on ``dataset`` with the Gemini operators, until Ctrl+C."""
    print(f"Opening the App: {make_operators_available()}.")
    session = fo.launch_app(dataset)
    print("The App is open (Ctrl+C to quit); its Gemini operators use the same endpoint.")
    with contextlib.suppress(KeyboardInterrupt):
        session.wait(-1)


if __name__ == "__main__":
    sys.exit(main())
