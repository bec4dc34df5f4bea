"""Gemini as a FiftyOne :class:`~fiftyone.core.models.Model`, for ``dataset.apply_model``.

::

    import gemini_vision as gv

    model = gv.GeminiModel("detect", classes=["cupcake", "spoon"])
    dataset.apply_model(model, label_field="gemini", batch_size=16)

The model reads each sample's file itself (original bytes, EXIF orientation applied, resized
as configured) rather than the decoded array FiftyOne passes, so labels land on the frame the
App shows. With ``batch_size``, the images of a batch are sent concurrently. Per-sample
failures return ``None`` (and are logged) so one bad image does not stop ``apply_model``; use
the operators or :func:`~.runner.run_task` for recorded per-sample reasons, caching, resume and
run records.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fiftyone.core.models as fom
import numpy as np
from PIL import Image

from gemini_vision.adapters.labels import to_label
from gemini_vision.catalog import DEFAULT_MODEL
from gemini_vision.engine import (
    ItemOutcome,
    WorkItem,
    check_access,
    open_engine,
    run_coroutine_sync,
)
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["GeminiModel", "GeminiModelConfig"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeminiModelConfig:
    """What a :class:`GeminiModel` runs. ``apply_model`` reads ``model.config``; this one has no
    ``confidence_thresh`` or ``filter_classes``, so FiftyOne applies ``apply_model``'s
    ``confidence_thresh`` and ``classes`` arguments to the labels itself."""

    task: TaskSpec
    model: str


class GeminiModel(fom.SamplesMixin, fom.Model):
    """A Gemini task (detect, segment, point, classify, caption, ask) as a FiftyOne model.

    Args:
        task: a :class:`~.tasks.TaskSpec`, or a task name (``"detect"``, ``"segment"``...)
            completed by ``task_options`` (``classes``, ``target``, ``question``, ...)
        model: the Gemini model id
        max_image_side: downscale images whose long side exceeds this (None: send as is)
        concurrency: requests in flight for a batch (``apply_model(..., batch_size=N)``)
        api_key: the key; default: ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``
        base_url: the API's base URL; default: ``GOOGLE_GEMINI_BASE_URL`` or Google's
            (on Vertex AI: ``GOOGLE_VERTEX_BASE_URL`` or the location's host)
        vertexai: use Vertex AI; default: ``GOOGLE_GENAI_USE_VERTEXAI``
        project, location: the Vertex AI project and location; default:
            ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION`` (``global``)
        credentials: google-auth credentials for Vertex AI; default: Application Default
            Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's login)
    """

    def __init__(
        self,
        task: TaskSpec | str = "detect",
        *,
        model: str = DEFAULT_MODEL,
        max_image_side: int | None = DEFAULT_MAX_SIDE,
        concurrency: int = 8,
        api_key: str | None = None,
        base_url: str | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        **task_options: Any,
    ) -> None:
        fom.SamplesMixin.__init__(self)
        self.task = (
            task if isinstance(task, TaskSpec) else TaskSpec(kind=TaskKind(task), **task_options)
        )
        self.settings = RunSettings(
            model=model,
            max_image_side=max_image_side,
            concurrency=concurrency,
            api_key=api_key,
            base_url=base_url,
            vertexai=vertexai,
            project=project,
            location=location,
            credentials=credentials,
        )
        self.config = GeminiModelConfig(task=self.task, model=model)
        self._access_checked = False

    def __repr__(self) -> str:
        return f"GeminiModel(task={self.task.kind.value!r}, model={self.settings.model!r})"

    @property
    def media_type(self) -> str:
        return "image"

    @property
    def ragged_batches(self) -> bool:
        # There are no transforms and nothing is stacked: predict_all takes a list of images of
        # any sizes. True would make FiftyOne ignore apply_model's batch_size (one image at a
        # time, no concurrency).
        return False

    @property
    def transforms(self) -> None:
        return None

    @property
    def preprocess(self) -> bool:
        return False

    @preprocess.setter
    def preprocess(self, value: bool) -> None:
        pass

    def predict(self, arg: Any, sample: Any = None) -> Any:
        return self.predict_all([arg], [sample] if sample is not None else None)[0]

    def predict_all(self, args: Sequence[Any], samples: Sequence[Any] | None = None) -> list[Any]:
        sources = [
            _source(arg, samples[i] if samples is not None else None) for i, arg in enumerate(args)
        ]
        outcomes: dict[str, ItemOutcome] = {}
        if not self._access_checked:  # Vertex AI: credentials, project, location, for free
            check_access(self.settings)
            self._access_checked = True
        engine = open_engine(self.task, self.settings)

        async def go() -> None:
            async with engine.client:
                await engine.run(
                    [WorkItem(str(i), source) for i, source in enumerate(sources)],
                    lambda batch: outcomes.update((o.key, o) for o in batch),
                    total=len(sources),
                )

        run_coroutine_sync(go)
        return [self._label(outcomes.get(str(i))) for i in range(len(sources))]

    def _label(self, outcome: ItemOutcome | None) -> Any:
        if outcome is None or outcome.status != "ok" or outcome.image is None:
            reason = outcome.error if outcome else "not processed (the run was stopped)"
            logger.warning("Gemini gave no label: %s", reason)
            return None
        # captions and answers are plain strings, which FiftyOne stores as string fields
        return to_label(
            self.task.kind,
            outcome.answer,
            outcome.image.display_size,
            multi_label=self.task.multi_label,
        )


def _source(arg: Any, sample: Any) -> Any:
    """The sample's file when we have it (original bytes, EXIF), else the decoded pixels."""
    if sample is not None and getattr(sample, "filepath", None):
        return sample.filepath
    image = Image.fromarray(np.asarray(arg, dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
