"""``evaluate_against_ground_truth``: FiftyOne's evaluation of a prediction field, with an
``eval_key`` so the results appear in the App's Model Evaluation panel."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.errors import ConfigurationError

from . import forms


class EvaluateAgainstGroundTruth(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="evaluate_against_ground_truth",
            label="Gemini: evaluate against ground truth",
            description="Compare a prediction field with a ground-truth field (Model Evaluation)",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        collection = forms.target_input(ctx, inputs, action="Evaluate")
        choices = forms.field_choices(collection, adapters.EVALUABLE_TYPES)
        if len(choices) < 2:
            message = "Evaluation needs a prediction field and a ground-truth field"
            forms.invalid(inputs, "no_fields", types.Warning(label=message), message)
            return types.Property(inputs)
        ours = adapters.plugin_fields(ctx.dataset)
        ordered = [f for f in choices if f in ours] + [f for f in choices if f not in ours]
        # Python callers may name the predictions `label_field`, as for the task operators
        alias = forms.text_param(ctx, "label_field")
        forms.field_dropdown(
            inputs, "pred_field", ordered, label="Predictions", description="", required=not alias
        )
        forms.field_dropdown(
            inputs, "gt_field", choices, label="Ground truth", description="", required=True
        )
        pred = forms.text_param(ctx, "pred_field") or alias
        inputs.str(
            "eval_key",
            label="Evaluation key",
            default=f"eval_{pred}" if pred else "eval_gemini",
        )
        gt = forms.text_param(ctx, "gt_field")
        eval_key = forms.text_param(ctx, "eval_key") or f"eval_{pred}"
        if pred and gt:
            try:  # refuse in the form what the run would refuse: other label kinds, key in use
                adapters.check_evaluation(ctx.dataset, pred, gt, eval_key)
            except ConfigurationError as exc:
                forms.invalid(inputs, "evaluation_error", types.Warning(label=str(exc)), str(exc))
        inputs.bool(
            "use_masks",
            label="Use instance masks",
            description="Match detections by mask IoU instead of box IoU (when both have masks)",
        )
        inputs.float("iou", label="IoU threshold", default=0.5, min=0.05, max=0.95)
        inputs.bool(
            "classwise",
            label="Match only objects of the same class",
            description="Turn off to match boxes whatever their labels (open vocabulary)",
            default=True,
        )
        return types.Property(inputs, view=types.View(label="Evaluate against ground truth"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = ctx.params
        # the task operators call their output `label_field`; accept that name here too
        pred_field = forms.text_param(ctx, "pred_field") or forms.text_param(ctx, "label_field")
        gt_field = forms.text_param(ctx, "gt_field")
        if not pred_field or not gt_field:
            raise ConfigurationError(
                "evaluate_against_ground_truth needs `pred_field` (the predictions; "
                "`label_field` also works) and `gt_field` (the ground truth)"
            )
        metrics = adapters.evaluate(
            forms.target_collection(ctx),
            pred_field,
            gt_field,
            forms.text_param(ctx, "eval_key") or f"eval_{pred_field}",
            use_masks=params.get("use_masks"),
            iou=float(params.get("iou") or 0.5),
            classwise=bool(params.get("classwise", True)),
        )
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return metrics

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("eval_key", label="Evaluation key")
        outputs.str("summary", label="Summary", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label="Evaluation"))
