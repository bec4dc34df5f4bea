"""Shared by the scale benchmarks: the emulator in its own process, images, an isolated database.

The emulator runs in a separate Python process (it would otherwise share our GIL and slow the
very engine we measure). :class:`EmulatorProcess` starts it with the given knobs, reads its
base URL, and can ask it for its counters (one JSON line per ``stats`` command on stdin).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

#: a database of our own, dropped at the end, so benchmarks never touch anyone's data
os.environ.setdefault("FIFTYONE_DATABASE_NAME", f"gemini_vision_bench_{uuid.uuid4().hex[:10]}")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")

KEY = "bench-key-not-secret"

_SERVER = r"""
import json, sys
from gemini_vision.emulator import Emulator, EmulatorConfig
config = EmulatorConfig(**json.loads(sys.argv[1]))
with Emulator(config) as emu:
    print(emu.base_url, flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps(emu.stats.snapshot()), flush=True)
        elif line.strip() == "reset":
            emu.reset()
            print("{}", flush=True)
"""


class EmulatorProcess:
    """``with EmulatorProcess(latency=0.5) as emu: emu.base_url, emu.stats()``."""

    def __init__(self, **knobs: Any) -> None:
        self.knobs = knobs
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, json.dumps(self.knobs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the emulator did not start")
        return self

    def _ask(self, command: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict[str, Any]:
        """The emulator's counters (see ``EmulatorStats.snapshot``)."""
        return self._ask("stats")

    def cpu_seconds(self) -> float:
        """CPU time the emulator process used so far (Linux ``/proc``; 0 elsewhere)."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        """Zeroes the counters and the quota windows."""
        self._ask("reset")

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def responses(stats: dict[str, Any], endpoint: str = "generateContent") -> dict[int, int]:
    """``{HTTP status: count}`` for ``endpoint`` from a stats snapshot."""
    out: dict[int, int] = {}
    for key, count in stats["responses"].items():
        name, status = key.rsplit(" ", 1)
        if name == endpoint:
            out[int(status)] = out.get(int(status), 0) + count
    return out


def scene_jpegs(
    directory: Path, count: int, *, bases: int = 20, size: tuple[int, int] = (160, 120)
) -> list[Path]:
    """``count`` JPEG files with distinct bytes (a comment differs) over ``bases`` scenes."""
    from gemini_vision.demo import generate_scene

    directory.mkdir(parents=True, exist_ok=True)
    encoded = []
    for i in range(bases):
        buffer = io.BytesIO()
        generate_scene(1000 + i, size).image.save(buffer, format="JPEG", quality=88)
        encoded.append(buffer.getvalue())
    paths = []
    for i in range(count):
        data = encoded[i % bases]
        # a COM segment right after SOI: other bytes, same pixels
        comment = f"variant {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        path = directory / f"img_{i:06d}.jpg"
        path.write_bytes(data[:2] + segment + data[2:])
        paths.append(path)
    return paths


def make_dataset(paths: list[Path], name: str | None = None) -> Any:
    import fiftyone as fo

    dataset = fo.Dataset(name, persistent=name is not None, overwrite=name is not None)
    dataset.add_samples([fo.Sample(filepath=str(p)) for p in paths], progress=False)
    return dataset


def drop_database() -> None:
    import fiftyone.core.odm.database as fodb

    fodb.drop_database()
