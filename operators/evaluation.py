"""``evaluate_against_ground_truth``: FiftyOne's evaluation of a prediction field, with an
``eval_key`` so the results appear in the App's Model Evaluation panel."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.errors import ConfigurationError

from . import forms, jobs
from .params import Flag, Number, Params, Text

PARAMETERS = {
    "target": jobs.TASK_PARAMETERS["target"],
    "pred_field": Text(),
    "label_field": Text(),
    "gt_field": Text(),
    "eval_key": Text(),
    "use_masks": Flag(),
    "iou": Number(minimum=0.05, maximum=0.95),
    "classwise": Flag(),
}


class EvaluateAgainstGroundTruth(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="evaluate_against_ground_truth",
            label="Gemini: evaluate against ground truth",
            description=(
                "Compare a prediction field with a ground-truth field using FiftyOne's "
                "evaluation; the results appear in the App's Model Evaluation panel. Sends "
                "nothing to Gemini; writes the evaluation record and its per-label fields "
                "(<eval_key>_tp, _fp, _fn, _iou)."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.MEDIUM,  # writes evaluation fields; sends nothing
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, PARAMETERS)
        collection = forms.target_input(ctx, inputs, params, action="Evaluate")
        if collection is not None:
            self._fields(ctx, inputs, params, collection)
            inputs.bool(
                "use_masks",
                label="Use instance masks",
                description="Match detections by mask IoU instead of box IoU (every object of "
                "both fields needs a mask)",
            )
            inputs.float("iou", label="IoU threshold", default=0.5, min=0.05, max=0.95)
            inputs.bool(
                "classwise",
                label="Match only objects of the same class",
                description="Turn off to match boxes whatever their labels (open vocabulary)",
                default=True,
            )
            _read(ctx, params, collection)
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Evaluate against ground truth"))

    def _fields(
        self, ctx: ExecutionContext, inputs: types.Object, params: Params, collection: Any
    ) -> None:
        """The two field pickers, the obvious pair chosen: the plugin's latest predictions,
        and a field of the same kind the plugin did not write."""
        choices = forms.field_choices(collection, adapters.EVALUABLE_TYPES)
        if len(choices) < 2:
            params.refuse(
                "pred_field", "evaluation needs a prediction field and a ground-truth field"
            )
            return
        ours = adapters.plugin_fields(ctx.dataset)
        ordered = [f for f in choices if f in ours] + [f for f in choices if f not in ours]
        pred, gt = _obvious_pair(collection, ordered, ours)
        forms.field_dropdown(
            inputs, "pred_field", ordered, label="Predictions", description="",
            required=not params.given("label_field"), default=pred,
        )  # fmt: skip
        forms.field_dropdown(
            inputs, "gt_field", choices, label="Ground truth", description="", required=True,
            default=gt,
        )  # fmt: skip
        chosen = params.text("pred_field") or params.text("label_field") or pred
        inputs.str(
            "eval_key",
            label="Evaluation key",
            default=f"eval_{chosen}" if chosen else "eval_gemini",
        )

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, PARAMETERS)
        collection = jobs.target_collection(ctx, params)
        request = _read(ctx, params, collection)
        params.check()
        assert request is not None
        metrics = adapters.evaluate(collection, **request)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return metrics

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("eval_key", label="Evaluation key")
        outputs.str("summary", label="Summary", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label="Evaluation"))


def _obvious_pair(
    collection: Any, ordered: list[str], ours: set[str]
) -> tuple[str | None, str | None]:
    """The plugin's first field and a ground truth of the same label type."""
    schema = collection.get_field_schema(embedded_doc_type=adapters.EVALUABLE_TYPES)
    pred = next((f for f in ordered if f in ours), None)
    if pred is None:
        return None, None
    kind = schema[pred].document_type
    same = [f for f in ordered if f not in ours and schema[f].document_type is kind]
    named = [f for f in same if "truth" in f or f.startswith("gt")]
    candidates = named or same
    return pred, candidates[0] if candidates else None


def _read(ctx: ExecutionContext, params: Params, collection: Any) -> dict[str, Any] | None:
    """The evaluation the parameters ask for, checked as ``evaluate`` would check it (other
    label kinds, a key in use, mask IoU without masks); None, with the reasons, if refused."""
    # the task operators call their output `label_field`; accept that name here too
    pred_field = params.text("pred_field") or params.text("label_field")
    gt_field = params.text("gt_field")
    use_masks = params.get("use_masks")
    iou = params.get("iou", 0.5)
    classwise = params.get("classwise", True)
    if not pred_field or not gt_field:
        params.refuse(
            "pred_field" if not pred_field else "gt_field",
            "evaluate_against_ground_truth needs `pred_field` (the predictions; `label_field` "
            "also works) and `gt_field` (the ground truth)",
        )
        return None
    eval_key = params.text("eval_key") or f"eval_{pred_field}"
    try:
        adapters.check_evaluation(collection, pred_field, gt_field, eval_key, use_masks=use_masks)
    except ConfigurationError as exc:
        params.refuse("eval_key", str(exc))
        return None
    return {
        "pred_field": pred_field,
        "gt_field": gt_field,
        "eval_key": eval_key,
        "use_masks": use_masks,
        "iou": iou,
        "classwise": classwise,
    }
