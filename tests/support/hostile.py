"""Runs every hostile case through the operators, in a process of its own, and reports.

``python tests/support/hostile.py OUT_DIR [CASE ...]``: for each case, an emulator process
(``python -m gemini_vision.emulator --hostile CASE``) answers every request with it, and the
case's operator runs on a small dataset with ``concurrency=16``. Prints one JSON line: per
case the wall time, what each sample got (labels or a reason) or the run's error, and this
process's peak memory (after each case, and its growth over the whole suite; the emulators'
memory is theirs).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: case -> (operator, extra parameters, dataset: "small" or "big")
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "huge_body": ("detect_objects", {}, "small"),
    "huge_after_valid": ("detect_objects", {}, "small"),
    "huge_caption": ("caption_images", {}, "small"),
    "endless_body": ("detect_objects", {}, "small"),
    "slow_drip": ("detect_objects", {}, "small"),
    "cut_stream": ("detect_objects", {}, "small"),
    "not_utf8": ("detect_objects", {}, "small"),
    "html_200": ("detect_objects", {}, "small"),
    "empty_200": ("detect_objects", {}, "small"),
    "json_not_object": ("detect_objects", {}, "small"),
    "nested_envelope": ("detect_objects", {}, "small"),
    "nested_text": ("detect_objects", {}, "small"),
    "backtracking_text": ("detect_objects", {}, "small"),
    "dash_table": ("detect_objects", {}, "small"),
    "many_objects": ("detect_objects", {"max_objects": 100}, "small"),
    "wild_coordinates": ("detect_objects", {}, "small"),
    "long_labels": ("detect_objects", {}, "small"),
    "mask_bomb": ("segment_objects", {}, "small"),
    "mask_gigapixels": ("segment_objects", {}, "small"),
    "too_large_labels": ("segment_objects", {"max_objects": 60}, "big"),
    "retry_tomorrow": ("detect_objects", {}, "small"),
}
PLUGIN = "@gemini-vision/gemini"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_emulator(case: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "gemini_vision.emulator", "--port", "0"]
    command += ["--hostile", case, "--hostile-drip-seconds", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def datasets(out: Path) -> dict[str, Any]:
    import fiftyone as fo

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from support.datasets import write_variants

    small = fo.Dataset()
    files = write_variants(out / "small", 3, bases=3, size=(320, 240), seed=1)
    small.add_samples([fo.Sample(filepath=str(p)) for p, _ in files], progress=False)
    big = fo.Dataset()
    big.add_sample(fo.Sample(filepath=str(big_image(out / "big.jpg"))))
    return {"small": small, "big": big}


def big_image(path: Path) -> Path:
    """A 4000 x 3000 scene, drawn in a process of its own (its memory is not the suite's)."""
    code = (
        "import sys; from gemini_vision.demo import generate_scene, save_scene; "
        "save_scene(generate_scene(2, (4000, 3000)), sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return path


def run_case(case: str, data: dict[str, Any]) -> dict[str, Any]:
    import fiftyone.operators as foo

    from gemini_vision.adapters import clear_cached_answers

    clear_cached_answers()  # every case is asked, none answered from an earlier one
    name, extra, which = CASES[case]
    dataset = data[which]
    field = f"f_{case}"
    emulator, base_url = start_emulator(case)
    os.environ["GOOGLE_GEMINI_BASE_URL"] = base_url
    params = {"label_field": field, "concurrency": 16, "classes": ["circle", "square"], **extra}
    if name == "caption_images":
        params.pop("classes")
    started = time.monotonic()
    try:
        foo.execute_operator(f"{PLUGIN}/{name}", ctx={"dataset": dataset, "params": params})
        error = None
    except Exception as exc:
        # FiftyOne puts the worker's traceback before the error's own line
        error = str(exc).strip().splitlines()[-1][:600]
    seconds = time.monotonic() - started
    emulator.terminate()
    emulator.wait(10)
    dataset.reload()
    return {
        "seconds": round(seconds, 1),
        "peak_mb": round(peak_mb()),
        "error": error,
        "samples": samples(dataset, field),
    }


def samples(dataset: Any, field: str) -> list[dict[str, Any]]:
    got = []
    fields = [f for f in (field, f"{field}_error") if dataset.has_field(f)]
    for sample in dataset.select_fields(fields).iter_samples():
        label = sample[field] if field in fields else None
        reason = sample[f"{field}_error"] if f"{field}_error" in fields else None
        got.append({"reason": reason, **describe(label)})
    return got


def describe(label: Any) -> dict[str, Any]:
    if label is None:
        return {}
    if isinstance(label, str):
        return {"text_chars": len(label)}
    detections = getattr(label, "detections", None) or []
    boxes = [d.bounding_box for d in detections]
    return {
        "objects": len(detections),
        "boxes_sane": all(0 <= v <= 1 for box in boxes for v in box),
        "longest_label": max((len(d.label or "") for d in detections), default=0),
        "longest_raw_label": max(
            (len(d.get_field("raw_label") or "") for d in detections if d.has_field("raw_label")),
            default=0,
        ),
        "mask_errors": sum(1 for d in detections if d.has_field("mask_error")),
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    cases = argv[1:] or list(CASES)
    os.environ.update(
        GEMINI_API_KEY="test-key-hostile",
        GEMINI_VISION_REQUEST_DEADLINE="3",
        GEMINI_VISION_MAX_RETRY_WAIT="60",
    )
    data = datasets(out)
    baseline = peak_mb()
    report = {case: run_case(case, data) for case in cases}
    summary = {"baseline_mb": round(baseline), "peak_growth_mb": round(peak_mb() - baseline)}
    print(json.dumps({"cases": report, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
