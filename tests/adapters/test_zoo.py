"""The FiftyOne model zoo route: this repository as a remote model source, served offline.

The source (``zoo/manifest.json`` and ``zoo/__init__.py``) is packed as a zip archive and
served from 127.0.0.1 - one of the forms ``register_zoo_model_source`` accepts - then loaded with
``load_zoo_model`` and applied with ``apply_model``, exactly as Voxel51 documents remote models.
"""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ROOT
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")
foz = pytest.importorskip("fiftyone.zoo")

from fiftyone import ViewField as F  # noqa: E402

from gemini_vision import GeminiModel  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402


@pytest.fixture
def served_source(tmp_path: Path) -> Iterator[str]:
    """The URL of a zip of the repository's zoo source, on a local HTTP server."""
    site = tmp_path / "site"
    site.mkdir()
    archive = site / "fiftyone-gemini-vision.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((ROOT / "zoo").glob("*")):
            if path.is_file() and path.suffix in (".py", ".json"):
                out.write(path, f"fiftyone-gemini-vision-main/zoo/{path.name}")
        out.write(ROOT / "README.md", "fiftyone-gemini-vision-main/README.md")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{archive.name}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def zoo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model zoo folder of this test's own (the user's is never touched)."""
    folder = tmp_path / "zoo-models"
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(folder))
    return folder


def test_load_zoo_model_then_apply_model_from_the_served_source(
    served_source: str, zoo_dir: Path, plugin_env: Any, datasets: DatasetFactory
) -> None:
    foz.register_zoo_model_source(served_source)
    assert served_source in foz.list_zoo_model_sources()
    names = foz.list_zoo_models(source=served_source)
    assert {"gemini-2.5-flash", "gemini-2.5-pro"} <= set(names)

    dataset = datasets.scenes(4, seed=510)
    classes = dataset.distinct(f"{GT_DETECTIONS}.detections.label")
    model = foz.load_zoo_model("gemini-2.5-flash", task="detect", classes=classes)
    assert isinstance(model, GeminiModel) and model.settings.model == "gemini-2.5-flash"
    assert model.task.classes == tuple(classes)
    assert (zoo_dir / "gemini-vision" / "gemini-models").is_dir()  # under the zoo's own folder

    # FiftyOne decodes the images it hands a model itself, and cannot read HEIC
    readable = dataset.match(F("filepath").re_match(r".*\.(jpg|jpeg|png|webp)$"))
    readable.apply_model(model, label_field="zoo_det", batch_size=4)
    results = readable.evaluate_detections("zoo_det", gt_field=GT_DETECTIONS, eval_key="zoo")
    assert results.metrics()["recall"] >= 0.9 and results.metrics()["precision"] >= 0.9

    # another task and model from the same source, options passed through
    captioner = foz.load_zoo_model("gemini-2.5-flash-lite", task="caption")
    readable.limit(1).apply_model(captioner, label_field="zoo_cap")
    assert readable.limit(1).values("zoo_cap")[0]


def test_an_unknown_task_is_one_sentence(
    served_source: str, zoo_dir: Path, plugin_env: Any
) -> None:
    foz.register_zoo_model_source(served_source)
    with pytest.raises(ValueError, match="task must be one of detect, segment, point"):
        foz.load_zoo_model("gemini-2.5-flash", task="juggle")
