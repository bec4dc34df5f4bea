"""``delete_gemini_run``: remove what one Gemini run wrote, after a confirmation."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision.adapters import history
from gemini_vision.adapters.runs import plugin_label_fields

from . import forms
from .params import Params, Text

PARAMETERS = {"label_field": Text()}


class DeleteGeminiRun(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="delete_gemini_run",
            label="Gemini: delete a run",
            description=(
                "Delete what one Gemini run wrote on this dataset: its label field, its error "
                "field, its semantic segmentation field, the evaluations of those fields and "
                "the run's record. Only fields the plugin created can be deleted; ground "
                "truth and other tools' fields are never touched. Sends nothing."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=False,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.HIGH,  # deletes labels
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, PARAMETERS)
        fields = sorted(
            f for f, c in plugin_label_fields(ctx.dataset).items() if not c.get("instances_field")
        )
        if not fields:
            params.refuse("label_field", "no Gemini run on this dataset: nothing to delete")
        else:
            forms.field_dropdown(
                inputs,
                "label_field",
                fields,
                label="Run (its output field)",
                description="Fields written by Gemini Vision on this dataset",
                required=True,
                default=fields[0],
            )
            field = params.get("label_field") or fields[0]
            inputs.view("what", types.Warning(label=_what_goes(ctx.dataset, field)))
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Delete a Gemini run"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, PARAMETERS)
        field = params.get("label_field")
        if not field:
            params.refuse("label_field", "name the run's output field (label_field)")
        params.check()
        deleted = history.delete_run(ctx.dataset, field)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return {"label_field": field, "deleted_fields": deleted}

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("label_field", label="Run deleted")
        outputs.list("deleted_fields", types.String(), label="Fields deleted")
        return types.Property(outputs, view=types.View(label="Gemini run deleted"))


def _what_goes(dataset: Any, field: str) -> str:
    config = plugin_label_fields(dataset).get(field) or {}
    parts = [f"'{field}'"]
    if dataset.has_field(f"{field}_error"):
        parts.append(f"'{field}_error'")
    if config.get("semantic_field") and dataset.has_field(config["semantic_field"]):
        parts.append(f"'{config['semantic_field']}'")
    evaluations = history.run_evaluations(dataset, field)
    text = f"Deletes {', '.join(parts)} on every sample, and the run's record"
    if evaluations:
        text += f", and the evaluation(s) {', '.join(evaluations)}"
    return text + ". This cannot be undone; the ground truth is not touched."
