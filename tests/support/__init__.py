"""Helpers shared by the tests (importable as ``support``: pytest puts ``tests/`` on the path).

::

    fakes      httpx.MockTransport scripts and clients for the API tests
    datasets   image files and FiftyOne datasets for the reliability tests
    worker     a worker process the crash tests start and kill (run as a script)
"""

from pathlib import Path

#: the repository's root (the plugin folder FiftyOne loads)
ROOT = Path(__file__).resolve().parents[2]
#: data the tests ship with: real Gemini answers and the images they were given
DATA = ROOT / "tests" / "data"
SUPPORT = Path(__file__).resolve().parent
