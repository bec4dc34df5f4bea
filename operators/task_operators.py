"""One operator per Gemini task: detect, segment, classify, caption, ask, point."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.errors import ConfigurationError
from gemini_vision.tasks import TaskKind

from . import execution, forms


class GeminiTaskOperator(foo.Operator):
    """Shared shape of the task operators; subclasses set the task and their texts."""

    kind: TaskKind
    operator_name: str
    label: str
    description: str

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=self.operator_name,
            label=self.label,
            description=self.description,
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            **forms.ICONS,
        )

    # -- form -----------------------------------------------------------------------------------

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        collection = forms.target_input(ctx, inputs, action=self.label)
        if not forms.collection_ok(inputs, collection):
            return types.Property(inputs, view=types.View(label=self.label))
        forms.api_key_notice(ctx, inputs)
        forms.settings_notices(inputs)
        forms.model_input(ctx, inputs, self.kind)
        self.task_inputs(ctx, inputs, collection)
        forms.output_field_input(ctx, inputs, self.kind)
        forms.evaluation_inputs(ctx, inputs, collection, self.kind)
        forms.image_inputs(inputs)
        try:
            job: forms.TaskJob | Exception = forms.task_job(ctx, self.kind)
        except ConfigurationError as exc:
            job = exc
        forms.cost_preview(ctx, inputs, job)
        return types.Property(inputs, view=types.View(label=self.label))

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        """The task's own options (overridden per task)."""

    def resolve_execution_options(self, ctx: ExecutionContext) -> foo.ExecutionOptions:
        try:
            collection = forms.target_view(ctx)
            label_field = ctx.params.get("label_field") or forms.DEFAULT_FIELDS[self.kind]
            overwrite = bool(ctx.params.get("overwrite", False))
            big = forms.count_to_process(collection, label_field, overwrite)
            big = big > forms.delegation_threshold().value
        except Exception:  # the form is still being filled in
            big = False
        return foo.ExecutionOptions(
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            default_choice_to_delegated=big,
        )

    # -- run ------------------------------------------------------------------------------------

    def execute(self, ctx: ExecutionContext) -> Any:
        job = forms.task_job(ctx, self.kind)

        def run(report: Any) -> dict[str, Any]:
            summary = adapters.run_task(
                job.collection,
                job.task,
                job.label_field,
                settings=job.settings,
                semantic_field=job.semantic_field,
                gt_field=job.gt_field,
                eval_key=job.eval_key,
                progress=lambda p: report(p.fraction, p.label()),
            )
            return summary.to_dict()

        return execution.run(ctx, run, adapters.describe_summary, adapters.summary_variant)


class DetectObjects(GeminiTaskOperator):
    kind = TaskKind.DETECT
    operator_name = "detect_objects"
    label = "Gemini: detect objects"
    description = "Find objects with Gemini and write them as Detections (boxes)"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        spatial_inputs(ctx, inputs, collection, what="detect")
        inputs.bool(
            "with_confidence",
            label="Ask for confidences",
            description="Ask Gemini for a confidence per object (needed for mAP)",
            default=True,
        )


class SegmentObjects(GeminiTaskOperator):
    kind = TaskKind.SEGMENT
    operator_name = "segment_objects"
    label = "Gemini: segment objects"
    description = "Instance masks from Gemini 2.5, as Detections with masks (+ optional semantic)"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        spatial_inputs(ctx, inputs, collection, what="segment")
        inputs.str(
            "semantic_field",
            label="Semantic segmentation field (optional)",
            description="Also write one class index per pixel as a Segmentation; its mask "
            "targets follow the ground-truth field's when one is chosen",
        )


class ClassifyImages(GeminiTaskOperator):
    kind = TaskKind.CLASSIFY
    operator_name = "classify_images"
    label = "Gemini: classify images"
    description = "Pick the class (or classes) of each image from a closed list"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        classes_inputs(ctx, inputs, collection, required=True)  # checked in execute
        inputs.bool(
            "multi_label",
            label="Multi-label",
            description="Allow several classes per image (writes Classifications)",
            default=False,
        )
        inputs.str("prompt", label="Extra instructions (optional)")


class CaptionImages(GeminiTaskOperator):
    kind = TaskKind.CAPTION
    operator_name = "caption_images"
    label = "Gemini: caption images"
    description = "Write a caption for each image into a string field"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        choices = types.RadioGroup()
        choices.add_choice("short", label="One sentence")
        choices.add_choice("detailed", label="Detailed paragraph")
        inputs.enum("detail", choices.values(), default="short", view=choices, label="Caption")
        inputs.str(
            "prompt",
            label="Custom instruction (optional)",
            description="Replaces the default captioning instruction",
        )


class AskImages(GeminiTaskOperator):
    kind = TaskKind.ASK
    operator_name = "ask_images"
    label = "Gemini: ask a question about each image"
    description = "Ask the same question about every image; answers go to a string field"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        inputs.str("prompt", label="Question", description="Asked about every image")


class PointObjects(GeminiTaskOperator):
    kind = TaskKind.POINT
    operator_name = "point_objects"
    label = "Gemini: point to objects"
    description = "Gemini's [y, x] points, written as Keypoints"

    def task_inputs(self, ctx: ExecutionContext, inputs: types.Object, collection: Any) -> None:
        spatial_inputs(ctx, inputs, collection, what="point to")


def classes_inputs(
    ctx: ExecutionContext, inputs: types.Object, collection: Any, *, required: bool
) -> None:
    inputs.list(
        "classes",
        types.String(),
        label="Classes" + ("" if required else " (optional)"),
        description="The vocabulary Gemini must choose from",
        view=types.AutocompleteView(allow_user_input=True),
    )
    choices = forms.field_choices(collection)
    if choices:
        forms.field_dropdown(
            inputs,
            "classes_field",
            choices,
            label="...or take the classes from a field",
            description="Uses the distinct labels of this field as the vocabulary",
        )


def spatial_inputs(
    ctx: ExecutionContext, inputs: types.Object, collection: Any, *, what: str
) -> None:
    inputs.str(
        "prompt",
        label=f"What to {what} (optional)",
        description="Free text, e.g. 'the cupcakes with sprinkles'; empty = prominent objects",
    )
    classes_inputs(ctx, inputs, collection, required=False)
    inputs.int(
        "max_objects",
        label="Max objects per image",
        default=25,
        min=1,
        max=100,
    )


TASK_OPERATORS = (
    DetectObjects,
    SegmentObjects,
    ClassifyImages,
    CaptionImages,
    AskImages,
    PointObjects,
)
