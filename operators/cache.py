"""``clear_cached_answers``: forget the response cache's answers, for this dataset or all."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters

from . import forms
from .params import Choice, Params

SCOPES = ("dataset", "all")
PARAMETERS = {"scope": Choice(SCOPES)}


class ClearCachedAnswers(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="clear_cached_answers",
            label="Gemini: clear cached answers",
            description=(
                "Delete Gemini's cached answers - those that served this dataset, or all of "
                "them - so that the next run asks Gemini again (and pays again) instead of "
                "reusing them. Identical requests (same pixels, prompt, model and settings) "
                "are answered from this cache, also across datasets; answers expire by "
                "themselves after GEMINI_VISION_CACHE_TTL_DAYS days (default 30). Sends "
                "nothing; never touches labels."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=False,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.MEDIUM,  # deletes cached answers; later runs pay again
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, PARAMETERS)
        scope = params.get("scope", "dataset")
        choices = types.RadioGroup()
        here = adapters.cached_answers(_dataset_id(ctx))
        choices.add_choice("dataset", label=f"Answers that served this dataset ({here})")
        choices.add_choice("all", label=f"All cached answers ({adapters.cached_answers()})")
        inputs.enum("scope", choices.values(), default="dataset", view=choices, label="Clear")
        days = adapters.cache_ttl_days()
        inputs.view(
            "ttl_notice",
            types.Notice(
                label=f"Cached answers expire {days.value:g} days after they were stored "
                "(GEMINI_VISION_CACHE_TTL_DAYS; 0 keeps them)"
                + (f". {days.problem}" if days.problem else "")
            ),
        )
        if scope == "all":
            inputs.view(
                "all_warning",
                types.Warning(label="Every dataset's next run will pay for its answers again"),
            )
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Clear Gemini's cached answers"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, PARAMETERS)
        scope = params.get("scope", "dataset")
        params.check()
        dataset_id = _dataset_id(ctx) if scope == "dataset" else None
        return {"scope": scope, "deleted": adapters.clear_cached_answers(dataset_id)}

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("scope", label="Cleared")
        outputs.int("deleted", label="Answers deleted")
        return types.Property(outputs, view=types.View(label="Cached answers cleared"))


def _dataset_id(ctx: ExecutionContext) -> str:
    return str(ctx.dataset._doc.id)
