"""Form building and parameter parsing shared by the Gemini operators.

Forms are built from the dataset's schema (field pickers), the live model list (with an offline
fallback) and the task's own options; a cost preview and warnings sit at the bottom. Parameters
are always read with ``ctx.params.get(name, default)``: Python callers of ``execute_operator``
do not get the form's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fiftyone as fo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.catalog import DEFAULT_MODEL, model_spec
from gemini_vision.errors import ConfigurationError, GeminiVisionError
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.settings import EnvSetting, env_number
from gemini_vision.tasks import TaskKind, TaskSpec


def delegation_threshold() -> EnvSetting:
    """Above this many target samples the App proposes delegated execution by default."""
    return env_number("GEMINI_VISION_DELEGATION_THRESHOLD", 100)


def cost_warning_usd() -> EnvSetting:
    """Above this estimated cost (USD) the form warns before anything is sent."""
    return env_number("GEMINI_VISION_COST_WARNING_USD", 5)


#: the plugin's icon (paths relative to the plugin folder), for light and dark App themes
ICONS = {
    "icon": "/assets/icon-light.svg",
    "light_icon": "/assets/icon-light.svg",
    "dark_icon": "/assets/icon-dark.svg",
}

DEFAULT_FIELDS = {
    TaskKind.DETECT: "gemini_detections",
    TaskKind.SEGMENT: "gemini_instances",
    TaskKind.CLASSIFY: "gemini_classification",
    TaskKind.CAPTION: "gemini_caption",
    TaskKind.ASK: "gemini_answer",
    TaskKind.POINT: "gemini_points",
}

TARGETS = ("DATASET", "CURRENT_VIEW", "SELECTED_SAMPLES")
_LABEL_TYPES = (fo.Detections, fo.Classification, fo.Classifications, fo.Segmentation)


@dataclass
class TaskJob:
    """Everything an operator needs to run a task, parsed from ``ctx.params``."""

    collection: Any
    task: TaskSpec
    label_field: str
    settings: adapters.RunSettings
    semantic_field: str | None
    gt_field: str | None
    eval_key: str | None


# ------------------------------------------------------------------------------------------------
# parameters -> job


def text_param(ctx: ExecutionContext, name: str) -> str | None:
    """A free-text parameter, stripped; None when missing or blank (any value is read as text:
    Python callers may pass numbers, and forms must not break on them)."""
    value = ctx.params.get(name)
    text = "" if value is None else str(value).strip()
    return text or None


def _classes(ctx: ExecutionContext, collection: Any) -> tuple[str, ...] | None:
    classes = ctx.params.get("classes")
    if isinstance(classes, str):
        classes = classes.split(",")
    elif classes is not None and not isinstance(classes, (list, tuple)):
        classes = [classes]
    # class names may be numbers (digits, codes): they are names all the same
    classes = [str(c) for c in classes or [] if c is not None]
    # without a vocabulary, evaluating against ground truth would compare "red circle" with
    # "circle": the ground truth's classes are the vocabulary a user means
    field = ctx.params.get("classes_field") or (None if classes else ctx.params.get("gt_field"))
    if field:
        classes = list(classes or []) + adapters.classes_from_field(collection, field)
    cleaned = tuple(dict.fromkeys(c.strip() for c in classes if c.strip()))
    return cleaned or None


def run_settings(ctx: ExecutionContext) -> adapters.RunSettings:
    """The run settings of ``ctx.params``; secrets come from ``ctx.secrets``, never params."""
    params = ctx.params
    side = params.get("max_image_side", DEFAULT_MAX_SIDE)
    return adapters.RunSettings(
        model=text_param(ctx, "model") or DEFAULT_MODEL,
        max_image_side=int(side) if side else None,
        overwrite=bool(params.get("overwrite", False)),
        concurrency=int(params.get("concurrency") or adapters.RunSettings.concurrency),
        requests_per_minute=params.get("requests_per_minute") or None,
        tokens_per_minute=params.get("tokens_per_minute") or None,
        tier=params.get("tier") or None,
        mode=params.get("mode") or "online",
        secrets=ctx.secrets,
    )


def task_spec(ctx: ExecutionContext, kind: TaskKind, collection: Any) -> TaskSpec:
    """Maps the operator parameters of ``kind`` to a :class:`TaskSpec`."""
    params = ctx.params
    prompt = text_param(ctx, "prompt")
    classes = _classes(ctx, collection)
    if kind in (TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.POINT):
        return TaskSpec(
            kind=kind,
            classes=classes,
            target=prompt,
            max_objects=params.get("max_objects") or TaskSpec.max_objects,
            with_confidence=bool(params.get("with_confidence", kind == TaskKind.DETECT)),
        )
    if kind == TaskKind.CLASSIFY:
        if not classes:
            raise ConfigurationError(
                "classify_images needs classes: type them, or pick a field to take them from "
                "(from Python: `classes` or `classes_field`)"
            )
        return TaskSpec(
            kind=kind,
            classes=classes,
            multi_label=bool(params.get("multi_label", False)),
            prompt=prompt,
        )
    if kind == TaskKind.ASK:
        question = text_param(ctx, "question") or prompt
        if not question:
            raise ConfigurationError(
                "ask_images needs a question: type the one to ask about every image "
                "(from Python: `prompt` or `question`)"
            )
        return TaskSpec(kind=kind, question=question)
    if kind == TaskKind.CAPTION:
        return TaskSpec(kind=kind, prompt=prompt, detail=params.get("detail") or "short")
    raise ConfigurationError(f"unsupported task {kind}")


def _is_segmentation(collection: Any, field_name: str | None) -> bool:
    field = collection.get_field(field_name) if field_name else None
    return getattr(field, "document_type", None) is fo.Segmentation


def task_job(ctx: ExecutionContext, kind: TaskKind) -> TaskJob:
    """Parses and validates everything; raises :class:`ConfigurationError` on bad input."""
    collection = target_collection(ctx)
    label_field = text_param(ctx, "label_field") or DEFAULT_FIELDS[kind]
    gt_field = ctx.params.get("gt_field") or None
    semantic_field = ctx.params.get("semantic_field") or None if kind == TaskKind.SEGMENT else None
    if kind == TaskKind.SEGMENT and not semantic_field and _is_segmentation(collection, gt_field):
        # a semantic ground truth can only be compared with a semantic prediction
        semantic_field = f"{label_field}_semantic"
    eval_key = ctx.params.get("eval_key") or (f"eval_{label_field}" if gt_field else None)
    return TaskJob(
        collection=collection,
        task=task_spec(ctx, kind, collection),
        label_field=label_field,
        settings=run_settings(ctx),
        semantic_field=semantic_field,
        gt_field=gt_field,
        eval_key=eval_key,
    )


# ------------------------------------------------------------------------------------------------
# form pieces


def invalid(inputs: types.Object, name: str, view: Any, message: str) -> None:
    """Shows ``view`` and blocks execution with ``message`` (also for Python callers)."""
    prop = inputs.view(name, view)
    prop.invalid = True
    prop.error_message = message


def target_input(ctx: ExecutionContext, inputs: types.Object, action: str) -> Any:
    """The DATASET / CURRENT_VIEW / SELECTED_SAMPLES choice; returns the target collection."""
    prop = inputs.view_target(ctx, name="target", action_description=action)
    # The App offers only the targets that make sense right now; Python callers may name any
    # of the three, so validation accepts them all (execution checks the selection).
    values = prop.type.values
    values.extend(t for t in TARGETS if t not in values)
    return target_view(ctx)


def collection_ok(inputs: types.Object, collection: Any) -> bool:
    """Whether the operator can work on ``collection``; if not, says why and blocks execution
    (videos, grouped datasets, patches views...)."""
    try:
        adapters.check_collection(collection)
    except ConfigurationError as exc:
        invalid(inputs, "collection_error", types.Error(label=str(exc)), str(exc))
        return False
    return True


def target_view(ctx: ExecutionContext) -> Any:
    """``ctx.target_view()`` with the App form's default for callers that name no target: the
    selected samples when there are some (FiftyOne alone would take the whole view)."""
    view = ctx.target_view(param_name="target")
    if ctx.params.get("target") is None and ctx.selected:
        return view.select(ctx.selected)
    return view


def target_collection(ctx: ExecutionContext) -> Any:
    """The samples the operator works on; refuses an empty selection when one is asked for."""
    if ctx.params.get("target") == "SELECTED_SAMPLES" and not ctx.selected:
        raise ConfigurationError("no samples are selected: select samples or choose a target")
    return target_view(ctx)


def model_input(ctx: ExecutionContext, inputs: types.Object, kind: TaskKind | None = None) -> str:
    models = adapters.list_models(secrets=ctx.secrets)
    dropdown = types.AutocompleteView(label="Model", description="Gemini model to call")
    for model in models:
        dropdown.add_choice(model, label=model)
    inputs.str("model", default=DEFAULT_MODEL, view=dropdown)
    model = text_param(ctx, "model") or DEFAULT_MODEL
    if kind == TaskKind.SEGMENT and not model_spec(model).supports_segmentation:
        message = (
            f"{model} cannot segment: segmentation masks need a Gemini 2.5 model, "
            "e.g. gemini-2.5-flash"
        )
        invalid(inputs, "model_error", types.Error(label=message), message)
    return model


def field_choices(collection: Any, label_types: tuple[type, ...] = _LABEL_TYPES) -> list[str]:
    schema = collection.get_field_schema(embedded_doc_type=label_types)
    return sorted(schema)


def field_dropdown(
    inputs: types.Object,
    name: str,
    choices: list[str],
    *,
    label: str,
    description: str,
    required: bool = False,
) -> None:
    dropdown = types.Dropdown(label=label, description=description)
    for choice in choices:
        dropdown.add_choice(choice, label=choice)
    inputs.enum(name, dropdown.values(), required=required, view=dropdown)


def output_field_input(ctx: ExecutionContext, inputs: types.Object, kind: TaskKind) -> None:
    default = DEFAULT_FIELDS[kind]
    inputs.str(
        "label_field",
        label="Output field",
        description="Field where Gemini's results are written",
        default=default,
    )
    inputs.bool(
        "overwrite",
        label="Overwrite existing results",
        description="Re-run samples that already have a result in this field",
        default=False,
    )
    label_field = text_param(ctx, "label_field") or default
    try:
        adapters.check_output_field(
            ctx.dataset,
            label_field,
            kind,
            overwrite=bool(ctx.params.get("overwrite", False)),
            gt_field=ctx.params.get("gt_field"),
            multi_label=kind is TaskKind.CLASSIFY and bool(ctx.params.get("multi_label")),
        )
    except ConfigurationError as exc:
        invalid(inputs, "field_error", types.Error(label=str(exc)), str(exc))


def evaluation_inputs(
    ctx: ExecutionContext, inputs: types.Object, collection: Any, kind: TaskKind
) -> None:
    if kind not in (TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.CLASSIFY, TaskKind.POINT):
        return
    choices = field_choices(collection, adapters.ground_truth_types(kind))
    if not choices:
        return
    field_dropdown(
        inputs,
        "gt_field",
        choices,
        label="Ground truth (optional)",
        description="Evaluate the results against this field when the run finishes",
    )
    if ctx.params.get("gt_field"):
        inputs.str(
            "eval_key",
            label="Evaluation key",
            description="Name of the evaluation in the App's Model Evaluation panel",
            default=f"eval_{ctx.params.get('label_field') or DEFAULT_FIELDS[kind]}",
        )


def image_inputs(inputs: types.Object, *, run_options: bool = True) -> None:
    """The image size to send, and (for runs over many samples) how to send the requests."""
    inputs.int(
        "max_image_side",
        label="Max image side (px)",
        description="Downscale larger images before sending (0 = send at full size)",
        default=DEFAULT_MAX_SIDE,
        min=0,
    )
    if run_options:
        run_inputs(inputs)


def run_inputs(inputs: types.Object) -> None:
    """How to send the requests: online or as a Batch job, concurrency, the quota's tier."""
    # a dropdown, not radio buttons: the form's only radio group stays the target picker
    modes = types.Dropdown(
        label="Mode",
        description="Online: concurrent requests, paced under your quota. Batch job: "
        "Gemini Batch API, half the price, results within hours (schedule it as a delegated "
        "operation)",
    )
    modes.add_choice("online", label="Online (concurrent requests, paced)")
    modes.add_choice("batch", label="Batch job")
    inputs.enum("mode", modes.values(), default="online", view=modes)
    inputs.int(
        "concurrency",
        label="Requests in flight",
        default=adapters.RunSettings.concurrency,
        min=1,
        max=256,
    )
    tiers = types.Dropdown(label="Quota tier (optional)")
    for tier, text in (
        ("free", "Free"),
        ("tier1", "Tier 1"),
        ("tier2", "Tier 2"),
        ("tier3", "Tier 3"),
    ):
        tiers.add_choice(tier, label=text)
    inputs.enum(
        "tier",
        tiers.values(),
        view=tiers,
        description="Paces requests under the published quotas of this tier and model",
    )
    inputs.float(
        "requests_per_minute",
        label="Requests per minute (optional)",
        description="Your quota, if you know it (wins over the tier)",
        min=0,
    )
    inputs.float("tokens_per_minute", label="Input tokens per minute (optional)", min=0)


def cost_preview(
    ctx: ExecutionContext, inputs: types.Object, job_or_error: TaskJob | Exception
) -> None:
    if isinstance(job_or_error, Exception):
        # invalid, so that the App and FiftyOne's validation (also of delegated runs, when they
        # are queued) refuse to run what execute would refuse
        message = str(job_or_error)
        invalid(inputs, "params_error", types.Warning(label=message), message)
        return
    job = job_or_error
    try:
        preview = adapters.preview_cost(job.collection, job.task, job.label_field, job.settings)
    except GeminiVisionError as exc:
        inputs.view("cost_error", types.Warning(label=f"Cost preview unavailable: {exc}"))
        return
    inputs.md(preview.markdown(), name="cost_preview")
    if preview.cost_usd > cost_warning_usd().value:
        inputs.view(
            "cost_warning",
            types.Warning(
                label=f"Estimated cost ${preview.cost_usd:.2f}",
                description="Consider running on a view or a selection first",
            ),
        )
    if preview.to_process > delegation_threshold().value:
        inputs.view(
            "delegation_notice",
            types.Notice(
                label=f"{preview.to_process} samples: consider scheduling this as a delegated "
                "operation (run `fiftyone delegated launch`)"
            ),
        )


def settings_notices(inputs: types.Object) -> None:
    """Says which of the plugin's environment settings could not be read (each falls back to
    its default; a bad setting never stops the plugin)."""
    for setting in (delegation_threshold(), cost_warning_usd()):
        if setting.problem:
            inputs.view(
                f"setting_notice_{setting.name.lower()}",
                types.Warning(
                    label="A Gemini Vision setting was ignored", description=setting.problem
                ),
            )


def api_key_notice(ctx: ExecutionContext, inputs: types.Object) -> None:
    if adapters.has_api_key(ctx.secrets):
        return
    inputs.view(
        "api_key_notice",
        types.Warning(
            label="No Gemini API key found",
            description=(
                "Set GEMINI_API_KEY in the environment of the FiftyOne App (or as a FiftyOne "
                "secret). For offline use, point GOOGLE_GEMINI_BASE_URL at the local emulator."
            ),
        ),
    )


def count_to_process(collection: Any, label_field: str, overwrite: bool) -> int:
    return adapters.samples_to_process(collection, label_field, overwrite).count()
