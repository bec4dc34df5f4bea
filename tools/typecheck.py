#!/usr/bin/env python3
"""Type-checks the engine under its import name, and the operators: ``make lint`` runs this.

The engine's folder is ``plugin/`` but its modules import each other as ``gemini_vision``; mypy
has no setting to map one to the other, so it gets a view of the folder under the right name
(a symlink in ``build/typecheck/``, made here and ignored by git). Without it every
``gemini_vision.*`` import would be read as ``Any`` and nothing across modules checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "build" / "typecheck"


def main(argv: list[str]) -> int:
    VIEW.mkdir(parents=True, exist_ok=True)
    link = VIEW / "gemini_vision"
    if not link.is_symlink() or link.resolve() != ROOT / "plugin":
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT / "plugin", target_is_directory=True)
    env = dict(os.environ, MYPYPATH=str(VIEW))
    command = [sys.executable, "-m", "mypy", str(link), "operators", *argv]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
