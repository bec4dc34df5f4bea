#!/usr/bin/env python3
"""Regenerate the README's App screenshots (docs/images/*.png) from the browser test.

Runs tests/operators/test_browser.py, which drives the real FiftyOne App in headless Chromium
against the emulator, and copies the screenshots it took once every check passed:

- docs/images/operator-form.png  the "Gemini: detect objects" form on two selected samples
- docs/images/results-grid.png   the grid afterwards, the new boxes on those two thumbnails
- docs/images/sample-modal.png   one of them opened in the sample modal
- docs/images/gemini-menu.png    the grid's Gemini button menu, for three selected samples
- docs/images/operator-output.png  what a detect run did, in the App's output view
- docs/images/gemini-panel.png   the Gemini panel below the grid, with the dataset's runs

Usage: ``python tools/screenshots.py [--out docs/images]``. Install the test's tools first
(``bash tests/browser/install.sh``); unlike ``make test``, this fails when they are missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    env = dict(
        os.environ,
        GEMINI_VISION_SCREENSHOTS=str(args.out.resolve()),
        GEMINI_VISION_REQUIRE_BROWSER="1",
    )
    command = [python, "-m", "pytest", "tests/operators/test_browser.py", "-q"]
    completed = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if completed.returncode == 0:
        print(f"screenshots written to {args.out}")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
