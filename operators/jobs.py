"""From an operator call's parameters to the job it asks for, with every refusal found first.

:func:`task_job` reads a task operator's parameters (see :mod:`.params`), builds the task, the
run settings and the output fields, and runs every check a run would make before sending a
request (``gemini_vision.adapters.check_run``: fields, vocabulary, ground truth, evaluation
key) plus the ones only the plugin knows (an API key, a usable base URL). It never raises: each
refusal becomes one sentence in ``params.problems``, and the job is None when there is one.
Forms show those sentences; ``execute`` raises the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import fiftyone as fo
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.catalog import DEFAULT_MODEL, TIERS
from gemini_vision.errors import ConfigurationError, GeminiVisionError
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.settings import MODES, EnvSetting, RunSettings, env_number
from gemini_vision.tasks import TaskKind, TaskSpec, check_model_supports

from .backend import DEVELOPER_API, MISSING_KEY, check_backend
from .params import Choice, Flag, Names, Number, Params, Spec, Text

__all__ = [
    "DEFAULT_FIELDS",
    "MAX_OBJECTS",
    "MISSING_KEY",
    "SPATIAL_PARAMETERS",
    "TARGETS",
    "TASK_PARAMETERS",
    "TaskJob",
    "check_backend",
    "run_settings",
    "target_collection",
    "target_view",
    "task_job",
]

TARGETS = ("DATASET", "CURRENT_VIEW", "SELECTED_SAMPLES")
DEFAULT_FIELDS = {
    TaskKind.DETECT: "gemini_detections",
    TaskKind.SEGMENT: "gemini_instances",
    TaskKind.CLASSIFY: "gemini_classification",
    TaskKind.CAPTION: "gemini_caption",
    TaskKind.ASK: "gemini_answer",
    TaskKind.POINT: "gemini_points",
}
#: run settings that are the environment's (not a form's): RunSettings field -> (variable,
#: default); a value that cannot be read falls back to the default
LIMITS = {
    "request_deadline": ("GEMINI_VISION_REQUEST_DEADLINE", RunSettings.request_deadline),
    "max_answer_bytes": ("GEMINI_VISION_MAX_ANSWER_BYTES", RunSettings.max_answer_bytes),
    "max_retry_wait": ("GEMINI_VISION_MAX_RETRY_WAIT", RunSettings.max_retry_wait),
}
#: the most objects a spatial task may ask for per image
MAX_OBJECTS = 1000
#: the parameters every task operator takes, and what each must be
TASK_PARAMETERS: dict[str, Spec] = {
    "target": Choice(TARGETS, exact=True),
    "model": Text(),
    "prompt": Text(),
    "label_field": Text(),
    "overwrite": Flag(),
    "gt_field": Text(),
    "eval_key": Text(),
    "advanced": Flag(),
    "max_image_side": Number(minimum=16, whole=True, zero_allowed=True),
    "mode": Choice(MODES),
    "concurrency": Number(minimum=1, maximum=256, whole=True),
    "tier": Choice(TIERS),
    "requests_per_minute": Number(minimum=0.01),
    "tokens_per_minute": Number(minimum=1),
}
#: ... and those of detection, segmentation and pointing
SPATIAL_PARAMETERS: dict[str, Spec] = {
    "classes": Names(),
    "classes_field": Text(),
    "max_objects": Number(minimum=1, maximum=MAX_OBJECTS, whole=True),
    "with_confidence": Flag(),
}


@dataclass
class TaskJob:
    """Everything a task operator needs to run, read from ``ctx.params``."""

    collection: Any
    task: TaskSpec
    label_field: str
    settings: RunSettings
    semantic_field: str | None
    gt_field: str | None
    eval_key: str | None
    #: which Gemini the run reaches, e.g. ``Vertex AI (project p, location l) with ...``
    backend: str = DEVELOPER_API


def limits() -> list[tuple[str, EnvSetting, Any]]:
    """(RunSettings field, its environment setting, its default) of :data:`LIMITS`."""
    return [
        (name, _typed(env_number(variable, default, minimum=1), default), default)
        for name, (variable, default) in LIMITS.items()
    ]


def _typed(setting: EnvSetting, default: Any) -> EnvSetting:
    """``setting`` with its value of its default's type (a byte count stays an int)."""
    return replace(setting, value=type(default)(setting.value))


def target_view(ctx: ExecutionContext, params: Params) -> Any:
    """``ctx.target_view()`` with the App form's default for callers that name no target: the
    selected samples when there are some (FiftyOne alone would take the whole view). A target
    that was refused stands in as the current view while the form is shown."""
    target = params.get("target")
    view = ctx.target_view(param_name="target" if target else "__no_target__")
    if target is None and ctx.selected:
        return view.select(ctx.selected)
    return view


def target_collection(ctx: ExecutionContext, params: Params) -> Any:
    """The samples the operator works on; an empty selection asked for is refused."""
    if params.get("target") == "SELECTED_SAMPLES" and not ctx.selected:
        params.refuse(
            "target", "no samples are selected: select samples in the grid, or choose a target"
        )
    return target_view(ctx, params)


def run_settings(ctx: ExecutionContext, params: Params) -> RunSettings:
    """The run settings of the call; secrets come from ``ctx.secrets``, never parameters."""
    options: dict[str, Any] = {
        "model": params.get("model", DEFAULT_MODEL),
        "max_image_side": params.get("max_image_side", DEFAULT_MAX_SIDE),
        "overwrite": params.get("overwrite", False),
        "concurrency": params.get("concurrency", RunSettings.concurrency),
        "requests_per_minute": params.get("requests_per_minute"),
        "tokens_per_minute": params.get("tokens_per_minute"),
        "tier": params.get("tier"),
        "mode": params.get("mode", "online"),
    }
    options |= {name: setting.value for name, setting, _ in limits()}
    try:
        return RunSettings(secrets=ctx.secrets, **options)
    except ConfigurationError as exc:  # a combination the reading above let through
        params.refuse("settings", str(exc))
        return RunSettings(secrets=ctx.secrets)


def _classes(params: Params, collection: Any) -> tuple[str, ...] | None:
    """The vocabulary: ``classes``, plus the distinct labels of ``classes_field``; without
    either, the ground truth's classes (what a user evaluating against it means)."""
    if "classes" not in params.specs:
        return None
    classes = params.texts("classes")
    field = params.text("classes_field") or (None if classes else params.text("gt_field"))
    if field:
        try:
            classes += adapters.classes_from_field(collection, field)
        except ConfigurationError as exc:
            params.refuse("classes_field", str(exc))
    cleaned = tuple(dict.fromkeys(c.strip() for c in classes if c.strip()))
    return cleaned or None


def task_spec(params: Params, kind: TaskKind, collection: Any) -> TaskSpec | None:
    """The task the parameters of ``kind`` ask for (None, with the reason, when refused)."""
    prompt = params.text("prompt")
    classes = _classes(params, collection)
    options: dict[str, Any] = {"kind": kind}
    if kind.spatial:
        max_objects = params.get("max_objects", TaskSpec.max_objects)
        options |= {"classes": classes, "target": prompt, "max_objects": max_objects}
        options["with_confidence"] = params.flag("with_confidence", kind is TaskKind.DETECT)
    elif kind is TaskKind.CLASSIFY:
        if not classes:
            params.refuse("classes", _NEEDS_CLASSES)
        multi_label = params.flag("multi_label", False)
        options |= {"classes": classes, "multi_label": multi_label, "prompt": prompt}
    elif kind is TaskKind.ASK:
        question = params.text("question") or prompt
        if not question:
            params.refuse("prompt", _NEEDS_QUESTION)
        options["question"] = question
    elif kind is TaskKind.CAPTION:
        detail = params.get("detail", "short")
        options |= {"prompt": prompt, "detail": detail}
    try:
        return TaskSpec(**options) if params.ok else None
    except ConfigurationError as exc:
        params.refuse("task", str(exc))
        return None


_NEEDS_CLASSES = (
    "classify_images needs classes: type them, or pick a field to take them from "
    "(from Python: `classes` or `classes_field`)"
)
_NEEDS_QUESTION = (
    "ask_images needs a question: type the one to ask about every image "
    "(from Python: `prompt` or `question`)"
)


def _is_segmentation(collection: Any, field_name: str | None) -> bool:
    field = collection.get_field(field_name) if field_name else None
    return getattr(field, "document_type", None) is fo.Segmentation


def task_job(
    ctx: ExecutionContext, params: Params, kind: TaskKind, *, fresh: bool = False
) -> TaskJob | None:
    """The job the parameters ask for, checked as a run would check it; None (with every
    reason in ``params.problems``) when something must be refused. Never raises."""
    try:
        return _task_job(ctx, params, kind, fresh)
    except GeminiVisionError as exc:
        params.refuse("run", str(exc))
    except Exception as exc:  # a bug must still reach the caller as one sentence
        params.refuse("run", f"the parameters could not be read ({type(exc).__name__}: {exc})")
    return None


def _task_job(
    ctx: ExecutionContext, params: Params, kind: TaskKind, fresh: bool
) -> TaskJob | None:
    backend = check_backend(ctx, params, fresh=fresh)
    collection = target_collection(ctx, params)
    label_field = params.text("label_field") or DEFAULT_FIELDS[kind]
    gt_field = params.text("gt_field")
    semantic_field = params.text("semantic_field") if kind is TaskKind.SEGMENT else None
    if kind is TaskKind.SEGMENT and not semantic_field and _is_segmentation(collection, gt_field):
        # a semantic ground truth can only be compared with a semantic prediction
        semantic_field = f"{label_field}_semantic"
    eval_key = params.text("eval_key") or (f"eval_{label_field}" if gt_field else None)
    task = task_spec(params, kind, collection)
    settings = run_settings(ctx, params)
    if task is not None:
        try:
            check_model_supports(task, settings.model)
        except ConfigurationError as exc:
            params.refuse("model", str(exc))
    if task is None or not params.ok:
        return None
    try:
        adapters.check_run(
            collection, task, label_field, settings, semantic_field, gt_field, eval_key
        )
    except ConfigurationError as exc:
        params.refuse("run", str(exc))
        return None
    return TaskJob(
        collection, task, label_field, settings, semantic_field, gt_field, eval_key, backend
    )


def task_params(task: dict[str, Any]) -> dict[str, Any]:
    """The parameters that ask for ``task`` (a run record's ``TaskSpec.to_dict()``) again:
    what :func:`task_spec` reads back into the same task."""
    kind = TaskKind(task["kind"])
    params: dict[str, Any] = {}
    if task.get("classes"):
        params["classes"] = list(task["classes"])
    if kind.spatial:
        params |= {"max_objects": task.get("max_objects", TaskSpec.max_objects)}
        params |= {"with_confidence": bool(task.get("with_confidence"))}
        if task.get("target"):
            params["prompt"] = task["target"]
    elif kind is TaskKind.ASK:
        params["prompt"] = task.get("question")
    elif task.get("prompt"):
        params["prompt"] = task["prompt"]
    if kind is TaskKind.CLASSIFY:
        params["multi_label"] = bool(task.get("multi_label"))
    if kind is TaskKind.CAPTION:
        params["detail"] = task.get("detail", "short")
    return params
