"""``ask_about_selection``: one multi-image prompt over the selected samples."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.errors import ConfigurationError

from . import forms

#: a multi-image prompt is one request: keep it to a size a user can reason about
MAX_IMAGES = 16
DEFAULT_QUESTION = "What is different between these images?"


class AskAboutSelection(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="ask_about_selection",
            label="Gemini: ask about the selected images",
            description="Send the selected images together in one prompt (e.g. compare them)",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            **forms.ICONS,
        )

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        collection = forms.target_input(ctx, inputs, action="Ask about")
        if not forms.collection_ok(inputs, collection):
            return types.Property(inputs)
        count = collection.count()
        forms.api_key_notice(ctx, inputs)
        if count > MAX_IMAGES:
            message = f"{count} samples targeted; select at most {MAX_IMAGES} images"
            forms.invalid(
                inputs,
                "too_many",
                types.Error(label=message, description="Select a few samples in the grid"),
                message,
            )
        forms.model_input(ctx, inputs)
        inputs.str(
            "prompt",
            label="Question",
            default=DEFAULT_QUESTION,
            description=f"Asked once about all {count} images together",
        )
        forms.image_inputs(inputs, run_options=False)  # one request: nothing to pace
        return types.Property(inputs, view=types.View(label="Ask Gemini about these images"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        collection = forms.target_collection(ctx)
        if collection.count() > MAX_IMAGES:
            raise ConfigurationError(
                f"ask_about_selection sends every image in one request; got "
                f"{collection.count()} samples, the limit is {MAX_IMAGES}"
            )
        question = forms.text_param(ctx, "question") or forms.text_param(ctx, "prompt")
        question = question or DEFAULT_QUESTION
        result = adapters.ask_about_samples(collection, question, settings=forms.run_settings(ctx))
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
