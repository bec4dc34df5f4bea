"""Form pieces shared by the Gemini operators.

Forms are built from the dataset's schema (field pickers), the live model list (with an offline
fallback) and the task's own options; the cost preview sits at the bottom. What a form shows
and what ``execute`` accepts come from the same reading of the parameters (:mod:`.params`,
:mod:`.jobs`): a value the run would refuse makes the form invalid, with the reason, so the App
disables Execute and FiftyOne refuses the call from Python or an AI assistant before anything
is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fiftyone as fo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.catalog import DEFAULT_MODEL, TIERS
from gemini_vision.errors import ConfigurationError, GeminiVisionError
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.settings import EnvSetting, RunSettings, env_number
from gemini_vision.tasks import TaskKind

from . import jobs
from .backend import DEVELOPER_API
from .jobs import DEFAULT_FIELDS, TARGETS, TaskJob, target_collection
from .params import Params

#: the plugin's icon (paths relative to the plugin folder), for light and dark App themes
ICONS = {
    "icon": "/assets/icon-light.svg",
    "light_icon": "/assets/icon-light.svg",
    "dark_icon": "/assets/icon-dark.svg",
}
_LABEL_TYPES = (fo.Detections, fo.Classification, fo.Classifications, fo.Segmentation)


def delegation_threshold() -> EnvSetting:
    """Above this many target samples the App proposes delegated execution by default."""
    return env_number("GEMINI_VISION_DELEGATION_THRESHOLD", 100)


def cost_warning_usd() -> EnvSetting:
    """Above this estimated cost (USD) the form warns before anything is sent."""
    return env_number("GEMINI_VISION_COST_WARNING_USD", 5)


# ------------------------------------------------------------------------------------------------
# the target


def target_input(
    ctx: ExecutionContext,
    inputs: types.Object,
    params: Params,
    *,
    action: str,
    object_views: bool = False,
) -> Any:
    """The DATASET / CURRENT_VIEW / SELECTED_SAMPLES choice; returns the target collection, or
    None (with the reason in ``params``) when it cannot be worked on (``object_views``: a
    patches or frames view can)."""
    prop = inputs.view_target(ctx, name="target", action_description=action)
    # The App offers only the targets that make sense right now; Python callers may name any
    # of the three, so the form lists them all (execution checks the selection).
    values = prop.type.values
    values.extend(t for t in TARGETS if t not in values)
    collection = target_collection(ctx, params)
    try:
        adapters.check_collection(collection, object_views=object_views)
    except ConfigurationError as exc:
        params.refuse("target", str(exc))
        return None
    return collection


# ------------------------------------------------------------------------------------------------
# fields and models


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
    default: str | None = None,
    space: int | None = None,
) -> None:
    dropdown = types.Dropdown(label=label, description=description, space=space)
    for choice in choices:
        dropdown.add_choice(choice, label=choice)
    inputs.enum(name, dropdown.values(), required=required, default=default, view=dropdown)


#: the width of an input that shares its row with another (the form's grid has 12 columns)
HALF = 6


def model_input(ctx: ExecutionContext, inputs: types.Object) -> None:
    models = adapters.list_models(secrets=ctx.secrets)
    dropdown = types.AutocompleteView(label="Model", space=HALF)
    for model in models:
        dropdown.add_choice(model, label=model)
    inputs.str("model", default=DEFAULT_MODEL, view=dropdown)


def output_field_input(inputs: types.Object, kind: TaskKind) -> None:
    inputs.str(
        "label_field",
        label="Output field",
        default=DEFAULT_FIELDS[kind],
        view=types.View(space=HALF),
    )


def overwrite_input(
    ctx: ExecutionContext, inputs: types.Object, params: Params, kind: TaskKind
) -> None:
    inputs.bool(
        "overwrite",
        label="Overwrite existing results",
        description="Re-run samples already done; replaces labels Gemini Vision did not write",
        default=False,
        view=types.View(space=HALF),
    )
    label_field = params.text("label_field") or DEFAULT_FIELDS[kind]
    foreign = ctx.dataset.has_field(label_field) and label_field not in adapters.plugin_fields(
        ctx.dataset
    )
    if foreign and params.flag("overwrite", False):
        inputs.view(
            "overwrite_warning",
            types.Warning(
                label=f"'{label_field}' was not created by Gemini Vision: its labels will be "
                "replaced",
                description="Choose another output field to keep them",
            ),
        )


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
        description="Evaluate the results against it when the run finishes",
        space=HALF,
    )
    if ctx.params.get("gt_field"):
        inputs.str(
            "eval_key",
            label="Evaluation key",
            description="Its name in the Model Evaluation panel",
            default=f"eval_{ctx.params.get('label_field') or DEFAULT_FIELDS[kind]}",
            view=types.View(space=HALF),
        )


# ------------------------------------------------------------------------------------------------
# how to send


#: the task forms' options most runs leave at their defaults, folded under "Advanced options"
ADVANCED = (
    "max_objects",
    "max_image_side",
    "mode",
    "concurrency",
    "tier",
    "requests_per_minute",
    "tokens_per_minute",
)


def advanced_inputs(
    inputs: types.Object,
    params: Params,
    task_options: Callable[[types.Object], None] = lambda inputs: None,
) -> None:
    """The task's own fine-tuning (``task_options``), the image size and how to send the
    requests, behind a switch that is off by default.

    The options stay top-level parameters (a Python or assistant caller passes them as
    before); the section opens by itself when the caller gave one of them without touching
    the switch, or when one of them is refused, so nothing that applies is hidden."""
    given = any(params.given(name) for name in ADVANCED)
    refused = any(name in params.problems for name in ADVANCED)
    inputs.bool(
        "advanced",
        label="Advanced options",
        description="Image size, Batch API, requests in flight, quotas",
        default=False,
        view=types.SwitchView(space=HALF),
    )
    unfolded = params.flag("advanced", False) if params.given("advanced") else given
    if unfolded or refused:
        task_options(inputs)
        image_inputs(inputs)


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
        default=RunSettings.concurrency,
        min=1,
        max=256,
    )
    tiers = types.Dropdown(label="Quota tier (optional)")
    for tier in TIERS:
        tiers.add_choice(tier, label=tier.capitalize().replace("tier", "Tier "))
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


# ------------------------------------------------------------------------------------------------
# notices and the preview


def cost_preview(inputs: types.Object, job: TaskJob | None) -> None:
    if job is None:  # refused: the reason is at the top of the form
        return
    try:
        preview = adapters.preview_cost(job.collection, job.task, job.label_field, job.settings)
    except GeminiVisionError as exc:
        inputs.view("cost_error", types.Warning(label=f"Cost preview unavailable: {exc}"))
        return
    text = preview.markdown()
    if job.backend != DEVELOPER_API:  # the default needs no words; Vertex AI's project does
        text += f"  \nSent to **{job.backend}**."
    inputs.md(text, name="cost_preview")
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
    limits = [setting for _, setting, _ in jobs.limits()]
    for setting in (delegation_threshold(), cost_warning_usd(), *limits):
        if setting.problem:
            inputs.view(
                f"setting_notice_{setting.name.lower()}",
                types.Warning(
                    label="A Gemini Vision setting was ignored", description=setting.problem
                ),
            )


def count_to_process(collection: Any, label_field: str, overwrite: bool) -> int:
    return adapters.samples_to_process(collection, label_field, overwrite).count()
