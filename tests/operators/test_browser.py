"""The plugin in the real FiftyOne App, driven by headless Chromium (tests/browser/drive.js).

A generated dataset is served by the App on 127.0.0.1 with this plugin loaded and the emulator
standing in for Gemini. The driver selects two thumbnails, runs "Gemini: detect objects"
through its form (output field, classes from the ground truth, evaluation against it), and
takes screenshots; this
test then checks the dataset, the emulator's counters and the thumbnails' pixels.

Needs Debian's ``chromium`` and ``npm ci`` in tests/browser (``.ci/run`` installs both). Where
they are missing the test skips, except under CI (``CI`` set) or with
``GEMINI_VISION_REQUIRE_BROWSER=1``, where it fails.
``GEMINI_VISION_SCREENSHOTS=<dir>`` also copies the README screenshots there
(``tools/screenshots.py`` does this for docs/images).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import support
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.browser, pytest.mark.fiftyone]

log = logging.getLogger(__name__)

ROOT = support.ROOT
BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OPERATOR_URI = "@gemini-vision/gemini/detect_objects"
FIELD = "gemini_boxes"
GT_FIELD = "ground_truth"
SELECTED = 2
#: screenshots shown in the README (the driver also writes debugging crops)
README_SHOTS = ("operator-form.png", "results-grid.png", "sample-modal.png")
#: share of a thumbnail's pixels that must change when the result field is shown
MIN_DRAWN_FRACTION = 0.002


def _missing_tools() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    if shutil.which("node") is None:
        return "node not found (apt-get install nodejs npm)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core not installed (cd tests/browser && npm ci)"
    return None


@pytest.fixture(scope="module")
def browser_tools() -> None:
    missing = _missing_tools()
    if missing is None:
        return
    if os.environ.get("CI") or os.environ.get("GEMINI_VISION_REQUIRE_BROWSER"):
        pytest.fail(f"the browser test cannot run: {missing}", pytrace=False)
    pytest.skip(f"browser test needs its tools: {missing}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the App server exited with code {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"the App server did not answer {url} within {timeout:.0f} s")


@contextlib.contextmanager
def app_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Runs the FiftyOne App server on a free 127.0.0.1 port; yields its URL.

    The server is started directly (no ``launch_app`` session), so it is one process that we
    own and stop by PID. The database service it uses is shared with this test process and
    stops by itself once no client is left.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fiftyone.server.main", "--address", "127.0.0.1"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        try:
            _wait_http(url + "/", process, timeout=90)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- App server log ---\n{_tail(log_path)}") from exc
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # hypercorn shuts down gracefully on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.warning("App server %d ignored SIGTERM; killing it", process.pid)
            process.kill()
            process.wait(timeout=5)


def _server_env(emulator_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GEMINI_API_KEY="emulator-key",  # the emulator accepts any key
        GOOGLE_GEMINI_BASE_URL=emulator_url,
        FIFTYONE_PLUGINS_DIR=str(ROOT),
        FIFTYONE_DO_NOT_TRACK="true",
        # what a user sets to get the App's "Schedule" choice in open-source FiftyOne
        FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS="true",
    )
    return env


def _node(
    script: str, args: list[str], out: Path, log_path: Path, timeout: float
) -> dict[str, Any]:
    """Runs a driver script of tests/browser writing into ``out``; returns the result.json it
    wrote (empty if none) with the script's ``exit_code``."""
    command = ["node", str(BROWSER_DIR / script), *args, "--out", str(out)]
    env = dict(os.environ, CHROMIUM=CHROMIUM)
    with log_path.open("wb") as drive_log:
        completed = subprocess.run(
            command,
            cwd=BROWSER_DIR,
            env=env,
            stdout=drive_log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    result_path = out / "result.json"
    result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    result["exit_code"] = completed.returncode
    return result


def _drive(
    url: str, dataset: str, out: Path, log_path: Path, scenario: str = "detect"
) -> dict[str, Any]:
    args = [
        *("--url", url, "--dataset", dataset, "--field", FIELD),
        *("--gt", GT_FIELD, "--classes-field", GT_FIELD),
        *("--select", str(SELECTED), "--timeout", "120", "--scenario", scenario),
    ]
    return _node("drive.js", args, out, log_path, timeout=240)


def _drawn_fraction(on: Path, off: Path) -> float:
    """Share of pixels that differ between a thumbnail with the field shown and hidden."""
    from PIL import Image

    a = np.asarray(Image.open(on).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(off).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=2) > 24).mean())


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def scene_dataset(datasets: DatasetFactory) -> Any:
    """Six generated scenes with ground truth, persistent so the App server's process sees
    them. HEIC is left out: Chromium cannot decode it, so its thumbnail would be an error."""
    from gemini_vision.adapters.synthetic import DEFAULT_FORMATS

    formats = [f for f in DEFAULT_FORMATS if f.suffix != ".heic"]
    return datasets.scenes(6, persistent=True, formats=formats)


def _check_form(result: dict[str, Any]) -> None:
    """What the App showed: every field (the advanced ones folded, all of it on a laptop's
    screen), the selection as target, defaults, cost, outcome."""
    assert result["form_labels_missing"] == [], result["form_text"]
    assert result["folded_labels_shown"] == [], result["form_text"]  # under "Advanced options"
    assert result["laptop"]["fits"], f"the form scrolls on a laptop: {result['laptop']}"
    assert result["selected_in_grid"] == SELECTED
    assert result["target_choice"] == "SELECTED_SAMPLES"
    assert result["output_default"] == "gemini_detections"
    assert result["eval_key"] == f"eval_{FIELD}"
    assert f"{SELECTED} images" in result["cost_preview"]
    assert result["notification"].startswith(f"{SELECTED} labelled, 0 failed"), result


def _check_labels(dataset: Any, result: dict[str, Any]) -> None:
    """Labels on the two selected samples (the grid's first two) and nowhere else."""
    dataset.reload()
    ids = dataset.values("id")
    labelled = {
        sid: dets for sid, dets in zip(ids, dataset.values(FIELD), strict=True) if dets is not None
    }
    assert set(labelled) == set(ids[:SELECTED]), f"labelled {sorted(labelled)}; grid {ids}"
    assert result["modal_sample_id"] == ids[0]
    classes = set(dataset.distinct(f"{GT_FIELD}.detections.label"))
    for dets in labelled.values():
        assert dets.detections, "a selected sample got an empty Detections"
        for det in dets.detections:
            assert det.label in classes, f"{det.label!r} is not one of the classes {classes}"
            x, y, w, h = det.bounding_box
            assert 0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1, det
    assert not dataset.has_field(f"{FIELD}_error")  # nothing failed: no error field
    eval_key = f"eval_{FIELD}"
    assert eval_key in dataset.list_evaluations()
    assert sum(dataset.values(f"{eval_key}_tp")[:SELECTED]) > 0


def _check_drawn(out: Path, lookers: int) -> None:
    """Showing the field in the sidebar changes the selected thumbnails, not the others."""
    drawn = [
        _drawn_fraction(out / f"thumb-{i}-on.png", out / f"thumb-{i}-off.png")
        for i in range(lookers)
    ]
    assert all(f > MIN_DRAWN_FRACTION for f in drawn[:SELECTED]), drawn
    assert all(f < MIN_DRAWN_FRACTION / 4 for f in drawn[SELECTED:]), drawn


def _publish_screenshots(out: Path) -> None:
    for name in README_SHOTS:
        assert (out / name).stat().st_size > 10_000, name
    target = os.environ.get("GEMINI_VISION_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for name in README_SHOTS:
            shutil.copyfile(out / name, Path(target) / name)


def test_detect_objects_from_the_app_on_selected_samples(
    browser_tools: None, scene_dataset: Any, emulator: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    out = tmp_path / "browser"
    server_log, drive_log = tmp_path / "app-server.log", tmp_path / "drive.log"
    with app_server(_server_env(emulator.base_url), server_log) as url:
        server_up = time.monotonic() - started
        result = _drive(url, scene_dataset.name, out, drive_log)
    logs = (
        f"\nscreenshots in {out}\n--- drive.js ---\n{_tail(drive_log)}"
        f"\n--- App server ---\n{_tail(server_log)}"
    )
    assert result.get("ok") and result["exit_code"] == 0, f"driver failed: {result}{logs}"
    assert not result["errors"], f"page errors: {result['errors']}{logs}"

    _check_form(result)
    # Gemini (the emulator) was asked about the two selected images only
    assert emulator.stats.count("generateContent", 200) == SELECTED
    _check_labels(scene_dataset, result)
    _check_drawn(out, result["lookers"])
    _publish_screenshots(out)
    log.info(
        "browser test: App up %.1f s, driver %.1f s (steps %s), total %.1f s",
        server_up,
        result["seconds"],
        result["steps"],
        time.monotonic() - started,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_a_key_the_form_says_so_and_execute_is_disabled(
    browser_tools: None, scene_dataset: Any, tmp_path: Path
) -> None:
    env = _server_env("http://127.0.0.1:9")
    del env["GEMINI_API_KEY"]
    env.pop("GOOGLE_API_KEY", None)
    out, server_log, drive_log = tmp_path / "out", tmp_path / "server.log", tmp_path / "drive.log"
    with app_server(env, server_log) as url:
        result = _drive(url, scene_dataset.name, out, drive_log, scenario="no-key")
    assert result.get("ok"), f"{result}\n{_tail(drive_log)}\n{_tail(server_log)}"
    assert not result["errors"], result["errors"]
    assert (
        "No Gemini API key found" in result["form_text"]
        and "GEMINI_API_KEY" in result["form_text"]
    )
    assert result["execute_disabled"] is True


def test_unreachable_gemini_shows_progress_and_the_reason(
    browser_tools: None, scene_dataset: Any, tmp_path: Path
) -> None:
    env = _server_env(f"http://127.0.0.1:{_closed_port()}")
    out, server_log, drive_log = tmp_path / "out", tmp_path / "server.log", tmp_path / "drive.log"
    with app_server(env, server_log) as url:
        result = _drive(url, scene_dataset.name, out, drive_log, scenario="unreachable")
    assert result.get("ok"), f"{result}\n{_tail(drive_log)}\n{_tail(server_log)}"
    assert not result["errors"], result["errors"]
    progress = " | ".join(result["progress_texts"])
    assert "Sending 1 image(s) to gemini-2.5-flash" in progress, progress
    notification = result["notification"] or ""
    assert "0 labelled, 1 failed" in notification, result
    assert "Most common reason (1x)" in notification and "failed (Connect" in notification


def test_audit_the_ground_truth_from_the_app_and_open_the_saved_view(
    browser_tools: None, scene_dataset: Any, emulator: Any, tmp_path: Path
) -> None:
    """Two selected samples whose ground truth has one wrong label each: the audit from the
    App writes its field for those two, and the App then shows the saved view of suspects."""
    noisy = "noisy_truth"
    truths = scene_dataset.values(GT_FIELD)
    for index, truth in enumerate(truths):
        if index < SELECTED and truth.detections:
            first = truth.detections[0]
            first.label = next(c for c in ("circle", "square", "star") if c != first.label)
    scene_dataset.set_values(noisy, truths)
    out, server_log, drive_log = tmp_path / "out", tmp_path / "server.log", tmp_path / "drive.log"
    args = [
        *("--url", "", "--dataset", scene_dataset.name, "--gt", noisy),
        *("--select", str(SELECTED), "--timeout", "120", "--scenario", "audit"),
    ]
    with app_server(_server_env(emulator.base_url), server_log) as url:
        args[1] = url
        result = _node("drive.js", args, out, drive_log, timeout=240)
    logs = f"\n--- drive.js ---\n{_tail(drive_log)}\n--- App server ---\n{_tail(server_log)}"
    assert result.get("ok") and result["exit_code"] == 0, f"driver failed: {result}{logs}"
    assert not result["errors"], f"page errors: {result['errors']}{logs}"
    assert result["target_choice"] == "SELECTED_SAMPLES"
    assert "suspected label errors of" in result["notification"]
    assert not result["console_errors"], result["console_errors"]
    scene_dataset.reload()
    audited = scene_dataset.exists(f"{noisy}_audit")
    assert len(audited) == SELECTED  # the selection, and nothing else, was audited
    suspects = scene_dataset.load_saved_view("suspected label errors")
    assert len(suspects) == SELECTED == result["grid_after"]
    verdicts = suspects.values(f"{noisy}_audit.detections.verdict", unwind=True)
    assert verdicts.count("wrong_label") == SELECTED


WORKBENCH_FIELD = "gemini_workbench"
#: thrown by the App's own router when something reads the current page while the App loads a
#: new one (a view set, the dataset reloaded, a panel opened); with a panel open it happens in
#: about one run in four, at any of those steps, and the page goes on working (every later
#: step of the scenario passes). Any other page error fails the test.
APP_ROUTER_RACE = "entry is loading"
#: screenshots of the workbench scenario shown in the README
WORKBENCH_SHOTS = ("gemini-menu.png", "operator-output.png", "gemini-panel.png")


def _workbench(url: str, dataset: str, out: Path, log_path: Path) -> dict[str, Any]:
    args = [
        *("--url", url, "--dataset", dataset, "--field", WORKBENCH_FIELD),
        *("--gt", GT_FIELD, "--select", "0,1,2", "--timeout", "120"),
    ]
    return _node("workbench.js", args, out, log_path, timeout=300)


def test_the_app_as_a_gemini_workbench(
    browser_tools: None, scene_dataset: Any, emulator: Any, tmp_path: Path
) -> None:
    """As a user would: open the Gemini panel from the grid's Gemini button, select three
    samples (one of them a broken image), detect from the button's menu, see the run in the
    panel's history, show its failures, open its evaluation, delete it."""
    broken = scene_dataset.skip(1).first()
    Path(broken.filepath).write_bytes(b"not an image")
    ground_truth = scene_dataset.values(f"{GT_FIELD}.detections")
    out, server_log, drive_log = tmp_path / "out", tmp_path / "server.log", tmp_path / "drive.log"
    with app_server(_server_env(emulator.base_url), server_log) as url:
        result = _workbench(url, scene_dataset.name, out, drive_log)
    logs = f"\n--- workbench.js ---\n{_tail(drive_log)}\n--- App server ---\n{_tail(server_log)}"
    assert result.get("ok") and result["exit_code"] == 0, f"driver failed: {result}{logs}"
    errors = [e for e in result["errors"] if e != APP_ROUTER_RACE]
    assert not errors, f"page errors: {result['errors']}{logs}"
    if result["errors"]:
        log.warning("the App's router threw %r %d time(s)", APP_ROUTER_RACE, len(result["errors"]))

    assert result["selected_in_grid"] == 3 and "3 selected" in result["panel_acts_on"]
    assert result["detect_form_target"] == "SELECTED_SAMPLES"
    field, task, status, samples = result["run_row"][:4]
    assert (field, status) == (WORKBENCH_FIELD, "finished"), result["run_row"]
    assert task.startswith("detect") and samples == "2 labelled · 1 failed · 0 incomplete"
    assert "2 labelled, 1 failed" in result["output_text"]
    # the broken image is never sent (an image the first test labelled may be cached)
    assert emulator.stats.count("generateContent", 200) <= 2
    assert hashlib.sha256(b"not an image").hexdigest() not in emulator.stats.image_calls
    assert result["failures_shown"] == 1  # exactly the broken sample
    assert result["evaluation_shown"] == 3  # the evaluation's view: the three selected
    assert f"Deletes '{WORKBENCH_FIELD}'" in result["delete_form"]

    scene_dataset.reload()
    assert not scene_dataset.has_field(WORKBENCH_FIELD)
    assert not scene_dataset.has_field(f"{WORKBENCH_FIELD}_error")
    assert f"eval_{WORKBENCH_FIELD}" not in scene_dataset.list_evaluations()
    assert scene_dataset.values(f"{GT_FIELD}.detections") == ground_truth
    assert result["ground_truth_in_sidebar"] == 1
    for name in WORKBENCH_SHOTS:
        assert (out / name).stat().st_size > 10_000, name
    target = os.environ.get("GEMINI_VISION_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for name in WORKBENCH_SHOTS:
            shutil.copyfile(out / name, Path(target) / name)
