"""``ask_about_selection``: one multi-image prompt over the selected samples."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.adapters.ask import ANSWERS_KEY

from . import forms, jobs
from .params import Params, Text

#: a multi-image prompt is one request: keep it to a size a user can reason about
MAX_IMAGES = 16
DEFAULT_QUESTION = "What is different between these images?"
PARAMETERS = {
    name: jobs.TASK_PARAMETERS[name] for name in ("target", "model", "prompt", "max_image_side")
} | {"question": Text()}


class AskAboutSelection(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="ask_about_selection",
            label="Gemini: ask about the selected images",
            description=(
                "Ask one question about the selected images together, in one request (e.g. "
                "compare them). Sends those images (at most 16) and the question to Google's "
                "Gemini API, billed to your Gemini key; shows the answer and keeps it, with "
                f"the question, in dataset.info['{ANSWERS_KEY}'] (the last 50)."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.HIGH,
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, PARAMETERS)
        collection = forms.target_input(ctx, inputs, params, action="Ask about")
        if collection is not None:
            _check(ctx, params, collection, fresh=False)
            forms.model_input(ctx, inputs)
            inputs.str(
                "prompt",
                label="Question",
                default=DEFAULT_QUESTION,
                description=f"Asked once about all {collection.count()} images together",
            )
            forms.image_inputs(inputs, run_options=False)  # one request: nothing to pace
            inputs.view(
                "kept_notice",
                types.Notice(
                    label=f"The answer is shown and kept in dataset.info['{ANSWERS_KEY}']"
                ),
            )
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Ask Gemini about these images"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, PARAMETERS)
        collection = jobs.target_collection(ctx, params)
        _check(ctx, params, collection, fresh=True)
        question = params.get("question") or params.get("prompt") or DEFAULT_QUESTION
        settings = jobs.run_settings(ctx, params)
        params.check()
        result = adapters.ask_about_samples(collection, question, settings=settings)
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return result

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("question", label="Question")
        outputs.str("answer", label="Gemini's answer", view=types.MarkdownView())
        outputs.str("model", label="Model")
        outputs.int("num_images", label="Images sent")
        return types.Property(outputs, view=types.View(label="Gemini's answer"))


def _check(ctx: ExecutionContext, params: Params, collection: Any, *, fresh: bool) -> None:
    """What the request would be refused for, refused before it is sent (``fresh``: see
    :func:`.backend.check_backend`)."""
    jobs.check_backend(ctx, params, fresh=fresh)
    jobs.run_settings(ctx, params)
    count = collection.count()
    if count == 0:
        params.refuse("target", "no samples to ask about: select some samples in the grid first")
    elif count > MAX_IMAGES:
        params.refuse(
            "target",
            f"{count} samples targeted; ask_about_selection sends every image in one request, "
            f"at most {MAX_IMAGES}: select fewer samples",
        )
