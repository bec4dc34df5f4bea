"""``audit_ground_truth``: Gemini looks at every ground-truth object again and says which
labels look wrong (see :mod:`gemini_vision.adapters.audit`).

The form takes the ground truth, the vocabulary (its labels by default), optionally an
evaluation whose disputed objects alone are looked at, the output field and a tag; it says how
many objects would be asked about and what that costs. Run from the App, it opens the saved
view of suspects when done.
"""

from __future__ import annotations

from typing import Any

import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision.adapters.audit import SUSPECTS_VIEW, audit_ground_truth
from gemini_vision.catalog import estimate_image_tokens, price_for
from gemini_vision.errors import ConfigurationError, GeminiVisionError

from . import execution, forms, jobs
from .params import Choice, Names, Number, Params, Text

__all__ = ["AuditGroundTruth"]

PARAMETERS = {
    "target": Choice(jobs.TARGETS, exact=True),
    "gt_field": Text(),
    "classes": Names(),
    "eval_key": Text(),
    "label_field": Text(),
    "tag": Text(),
    "margin": Number(minimum=0, maximum=2),
    "min_side": Number(minimum=16, maximum=2048, whole=True),
    "model": Text(),
}
#: output tokens of one answer ({"label": ..., "confidence": ...})
_ANSWER_TOKENS = 15


class AuditGroundTruth(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="audit_ground_truth",
            label="Gemini: audit the ground truth",
            description=(
                "Crops every ground-truth object (or the ones an evaluation disputed) and asks "
                "Gemini which class it is; writes a field mirroring the ground truth with "
                "Gemini's label, the original one, whether they agree, a confidence and a "
                "reason, and saves the view 'suspected label errors'. The ground truth is never "
                "changed. Crops are sent to Google's Gemini API, billed to your key."
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
        collection = forms.target_input(ctx, inputs, params, action="Audit", object_views=True)
        if collection is not None:
            forms.model_input(ctx, inputs)
            choices = forms.field_choices(collection, (fo.Detections,))
            forms.field_dropdown(
                inputs,
                "gt_field",
                choices,
                label="Ground truth",
                description="The Detections field to check (never changed)",
                required=True,
                default=choices[0] if choices else None,
                space=forms.HALF,
            )
            evaluations = collection._dataset.list_evaluations()
            forms.field_dropdown(
                inputs,
                "eval_key",
                evaluations,
                label="Only what this evaluation disputed (optional)",
                description="False positives and false negatives of an evaluation",
                space=forms.HALF,
            )
            inputs.str(
                "tag", label="Tag suspects with (optional)", view=types.View(space=forms.HALF)
            )
            inputs.str(
                "label_field",
                label="Output field (default <ground truth>_audit)",
                view=types.View(space=forms.HALF),
            )
            _estimate(ctx, params, inputs, collection)
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Audit the ground truth"))

    def execute(self, ctx: ExecutionContext) -> Any:
        params = Params(ctx.params, PARAMETERS)
        jobs.check_backend(ctx, params, fresh=True)
        collection = jobs.target_collection(ctx, params)
        settings = jobs.run_settings(ctx, params)
        params.check()
        options = {
            "classes": params.get("classes"),
            "eval_key": params.text("eval_key"),
            "label_field": params.text("label_field"),
            "tag": params.text("tag"),
        }
        if params.get("margin") is not None:
            options["margin"] = params.get("margin")
        if params.get("min_side") is not None:
            options["min_side"] = params.get("min_side")

        def run(report: execution.Report, cancel: Any) -> dict[str, Any]:
            summary = audit_ground_truth(
                collection, params.text("gt_field"), settings=settings, **options
            )
            result = summary.to_dict()
            result["markdown"] = summary.markdown()
            return result

        return execution.run(
            ctx,
            run,
            lambda result: (
                f"Gemini Vision: {result['suspects']} suspected label errors of "
                f"{result['objects']} objects (view '{SUSPECTS_VIEW}')"
            ),
            lambda result: "warning" if result["suspects"] else "success",
            starting="Asking Gemini about the ground-truth objects...",
            outputs=self.resolve_output(ctx).to_json(),
            saved_view=SUSPECTS_VIEW,
        )

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("markdown", label="Audit", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label="Gemini: ground-truth audit"))


def _estimate(
    ctx: ExecutionContext, params: Params, inputs: types.Object, collection: Any
) -> None:
    gt_field = params.text("gt_field")
    if not gt_field or not collection.has_field(gt_field):
        return
    try:
        settings = jobs.run_settings(ctx, params)
        count = collection.count(f"{gt_field}.detections")
        price = price_for(settings.model)
        per_crop = estimate_image_tokens(96, 96, model=settings.model) + 90
        cost = price.cost(count * per_crop, count * _ANSWER_TOKENS)
    except (GeminiVisionError, ConfigurationError) as exc:
        inputs.view("audit_estimate_error", types.Warning(label=str(exc)))
        return
    inputs.md(
        f"**Estimate**: {count} objects, one crop each, ~${cost:.4f} "
        "(with an evaluation, only the disputed ones)",
        name="audit_estimate",
    )
