"""Helpers shared by the tests (importable as ``support``: pytest puts ``tests/`` on the path).

::

    fakes      httpx.MockTransport scripts and clients for the API tests
    datasets   image files and FiftyOne datasets for the reliability tests
    worker     a worker process the crash tests start and kill (run as a script)
"""

import dataclasses
from pathlib import Path

from gemini_vision.settings import EngineTuning, RunSettings

#: the repository's root (the plugin folder FiftyOne loads)
ROOT = Path(__file__).resolve().parents[2]
#: data the tests ship with: real Gemini answers and the images they were given
DATA = ROOT / "tests" / "data"
SUPPORT = Path(__file__).resolve().parent


def run_settings(**options: object) -> RunSettings:
    """``RunSettings`` from keyword options, the engine's tuning ones (``write_batch_size``,
    ``inline_limit_bytes``...) included."""
    tuning_names = {f.name for f in dataclasses.fields(EngineTuning)}
    tuning = {k: options.pop(k) for k in list(options) if k in tuning_names}
    return RunSettings(tuning=EngineTuning(**tuning), **options)  # type: ignore[arg-type]


def sent_requests(emulator: object) -> int:
    """Requests that carried data or cost money (every endpoint but the model list)."""
    counts = emulator.stats.requests  # type: ignore[attr-defined]
    return sum(n for endpoint, n in counts.items() if not endpoint.startswith("models."))
