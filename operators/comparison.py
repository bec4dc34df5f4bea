"""``compare_models``: one task, 2-4 variants (model, prompt, image size, thinking), one table.

The form takes the task, the ground truth, the vocabulary and a list of variants, and shows the
estimated cost of the whole comparison before anything is sent (``dry_run`` returns just that).
The run is :func:`gemini_vision.adapters.compare.compare_models`; each variant lands in its own
field and evaluation key, so every pair is also comparable in the Model Evaluation panel.
"""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision.adapters import Variant, compare_models
from gemini_vision.errors import ConfigurationError
from gemini_vision.tasks import TaskKind

from . import execution, forms, jobs
from .params import Choice, Flag, Names, Number, Params, Records, Text

__all__ = ["CompareModels"]

TASKS = ("detect", "segment", "point", "classify")
VARIANT_FIELDS = {
    "name": Text(),
    "model": Text(),
    "prompt": Text(),
    "max_image_side": Number(minimum=16, whole=True, zero_allowed=True),
    "thinking_budget": Number(minimum=-1, maximum=32768, whole=True),
}
PARAMETERS = {
    "target": Choice(jobs.TARGETS, exact=True),
    "task": Choice(TASKS),
    "gt_field": Text(),
    "classes": Names(),
    "classes_field": Text(),
    "variants": Records(VARIANT_FIELDS, minimum=2, maximum=4),
    "prefix": Text(),
    "dry_run": Flag(),
}
DEFAULT_VARIANTS = [
    {"name": "flash", "model": "gemini-2.5-flash"},
    {"name": "flash_lite", "model": "gemini-2.5-flash-lite"},
]


class CompareModels(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="compare_models",
            label="Gemini: compare models and prompts",
            description=(
                "Runs one task with 2-4 variants (models, prompts, image sizes, thinking) on "
                "the same samples, evaluates each against the ground truth under its own key, "
                "and shows one table of quality, failures, tokens, cost and time. Images are "
                "sent to Google's Gemini API, billed to your key."
            ),
            dynamic=True,
            execute_as_generator=True,  # progress and the result streamed to the App
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.HIGH,
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, PARAMETERS)
        collection = forms.target_input(ctx, inputs, params, action="Compare on")
        if collection is not None:
            forms.settings_notices(inputs)
            task = types.Dropdown(label="Task", space=forms.HALF)
            for name in TASKS:
                task.add_choice(name, label=name)
            inputs.enum("task", task.values(), default="detect", view=task)
            forms.field_dropdown(
                inputs,
                "gt_field",
                forms.field_choices(collection),
                label="Ground truth",
                description="Every variant is scored against it",
                required=True,
                space=forms.HALF,
            )
            variant = types.Object()
            variant.str("name", label="Name", required=True, view=types.View(space=3))
            variant.str("model", label="Model", view=types.View(space=3))
            variant.str("prompt", label="Prompt (optional)", view=types.View(space=3))
            variant.int("max_image_side", label="Image side", view=types.View(space=2))
            inputs.list("variants", variant, label="Variants (2-4)", default=DEFAULT_VARIANTS)
            inputs.bool("dry_run", label="Only estimate the cost", default=False)
            self._preview(ctx, params, inputs)
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Compare models and prompts"))

    def _preview(self, ctx: ExecutionContext, params: Params, inputs: types.Object) -> None:
        checked = _request(ctx, params)
        if checked is not None:
            inputs.md(checked[1].markdown(), name="comparison_estimate")

    def execute(self, ctx: ExecutionContext) -> Any:
        params = Params(ctx.params, PARAMETERS)
        checked = _request(ctx, params, fresh=True)
        params.check()
        assert checked is not None
        request, estimate = checked
        dry_run = params.flag("dry_run", False)

        def run(report: execution.Report, cancel: Any) -> dict[str, Any]:
            comparison = estimate if dry_run else compare_models(**request)
            result = comparison.to_dict()
            result["markdown"] = comparison.markdown()
            return result

        return execution.run(
            ctx,
            run,
            lambda result: (
                f"Gemini Vision: {len(result['variants'])} variants compared"
                + (" (estimate only)" if result["dry_run"] else "")
            ),
            lambda result: "success",
            starting="Comparing the variants...",
            outputs=self.resolve_output(ctx).to_json(),
        )

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("markdown", label="Comparison", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label="Gemini: model comparison"))


def _request(ctx: ExecutionContext, params: Params, *, fresh: bool = False) -> Any:
    """(the keyword arguments of the :func:`compare_models` call the parameters ask for, its
    estimated cost), checked as the run will be and with nothing sent; None, with the reasons
    in ``params``, when something is refused."""
    jobs.check_backend(ctx, params, fresh=fresh)
    collection = jobs.target_collection(ctx, params)
    gt_field = params.text("gt_field")
    if not gt_field:
        params.refuse("gt_field", "compare_models needs a ground-truth field to score against")
    kind = TaskKind(params.get("task", "detect"))
    task = jobs.task_spec(params, kind, collection)
    raw_variants = params.get("variants") or DEFAULT_VARIANTS
    try:
        variants = [Variant(**record) for record in raw_variants]
    except (ConfigurationError, TypeError) as exc:
        params.refuse("variants", str(exc))
        return None
    if task is None or not params.ok:
        return None
    request = {
        "collection": collection,
        "task": task,
        "variants": variants,
        "gt_field": gt_field,
        "settings": jobs.run_settings(ctx, params),
        "prefix": params.text("prefix") or "compare",
    }
    try:  # every check of the comparison, and its estimate; nothing is sent
        estimate = compare_models(**request, dry_run=True)
    except ConfigurationError as exc:
        params.refuse("variants", str(exc))
        return None
    return request, estimate
