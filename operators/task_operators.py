"""One operator per Gemini task: detect, segment, classify, caption, ask, point."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.tasks import TaskKind, TaskSpec

from . import execution, forms, jobs
from .params import Choice, Flag, Names, Params, Spec, Text

#: what every task operator's description says about its side effects
SENT_AND_WRITTEN = (
    "Sends each image (downscaled to max_image_side) with the prompt to Google's Gemini API, "
    "billed to your Gemini key; images too large to send inline are uploaded with the Files "
    "API, which keeps them for 48 hours. Writes only the output field, its _error field and "
    "the run's record (never ground truth or another tool's field unless overwrite is set)."
)


class GeminiTaskOperator(foo.Operator):
    """Shared shape of the task operators; subclasses set the task and their texts."""

    kind: TaskKind
    operator_name: str
    label: str
    #: what it does, in one sentence (the side effects follow it in the description)
    summary: str
    #: the parameters this task takes beyond those of every task (jobs.TASK_PARAMETERS)
    own_parameters: Mapping[str, Spec] = {}

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name=self.operator_name,
            label=self.label,
            description=f"{self.summary} {SENT_AND_WRITTEN}",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            view_target=False,
            disable_schema_validation=True,  # every refusal is ours, in words (see .params)
            risk_level=types.RiskLevel.HIGH,  # paid calls to an external service, new labels
            **forms.ICONS,
        )

    def params(self, ctx: ExecutionContext) -> Params:
        return Params(ctx.params, {**jobs.TASK_PARAMETERS, **self.own_parameters})

    # -- form -----------------------------------------------------------------------------------

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = self.params(ctx)
        collection = forms.target_input(ctx, inputs, params, action=self.label, object_views=True)
        if collection is not None:
            forms.settings_notices(inputs)
            # two inputs a row where they pair up: the first screen fits a laptop
            forms.model_input(ctx, inputs)
            forms.output_field_input(inputs, self.kind)
            self.task_inputs(ctx, inputs, collection, params)
            forms.evaluation_inputs(ctx, inputs, collection, self.kind)
            forms.overwrite_input(ctx, inputs, params, self.kind)
            forms.advanced_inputs(inputs, params, self.advanced_task_inputs)
            forms.cost_preview(inputs, jobs.task_job(ctx, params, self.kind))
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label=self.label))

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        """The task's own options (overridden per task)."""

    def advanced_task_inputs(self, inputs: types.Object) -> None:
        """The task's options most runs leave at their defaults, shown under "Advanced
        options" (overridden per task)."""

    def resolve_execution_options(self, ctx: ExecutionContext) -> foo.ExecutionOptions:
        try:
            params = self.params(ctx)
            collection = jobs.target_view(ctx, params)
            label_field = params.text("label_field") or jobs.DEFAULT_FIELDS[self.kind]
            overwrite = params.flag("overwrite", False)
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
        params = self.params(ctx)
        job = jobs.task_job(ctx, params, self.kind, fresh=True)
        params.check()
        assert job is not None

        def run(report: execution.Report, cancel: threading.Event) -> dict[str, Any]:
            summary = adapters.run_task(
                job.collection,
                job.task,
                job.label_field,
                settings=job.settings,
                semantic_field=job.semantic_field,
                gt_field=job.gt_field,
                eval_key=job.eval_key,
                progress=lambda p: report(p.fraction, p.label()),
                cancel=cancel,
            )
            result = summary.to_dict()
            result["markdown"] = adapters.run_markdown(result)
            return result

        count = forms.count_to_process(job.collection, job.label_field, job.settings.overwrite)
        starting = f"Sending {count} image(s) to {job.settings.model}..."
        return execution.run(
            ctx,
            run,
            adapters.describe_summary,
            adapters.summary_variant,
            starting=starting,
            outputs=self.resolve_output(ctx).to_json(),
        )

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("markdown", label="What the run did", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label=f"{self.label}: done"))


class DetectObjects(GeminiTaskOperator):
    kind = TaskKind.DETECT
    operator_name = "detect_objects"
    label = "Gemini: detect objects"
    summary = "Find objects with Gemini and write them as Detections (boxes)."
    own_parameters = jobs.SPATIAL_PARAMETERS

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        spatial_inputs(inputs, collection, what="detect")
        inputs.bool(
            "with_confidence",
            label="Ask for confidences",
            description="A confidence per object (needed for mAP)",
            default=True,
            view=types.View(space=forms.HALF),
        )

    def advanced_task_inputs(self, inputs: types.Object) -> None:
        max_objects_input(inputs)


class SegmentObjects(GeminiTaskOperator):
    kind = TaskKind.SEGMENT
    operator_name = "segment_objects"
    label = "Gemini: segment objects"
    summary = (
        "Instance masks from Gemini 2.5, written as Detections with masks (and optionally a "
        "semantic Segmentation)."
    )
    own_parameters = {**jobs.SPATIAL_PARAMETERS, "semantic_field": Text()}

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        spatial_inputs(inputs, collection, what="segment")
        inputs.str(
            "semantic_field",
            label="Semantic segmentation field (optional)",
            description="Also write one class index per pixel as a Segmentation (needs a "
            "vocabulary); its mask targets follow the ground-truth field's when one is chosen",
        )

    def advanced_task_inputs(self, inputs: types.Object) -> None:
        max_objects_input(inputs)


class ClassifyImages(GeminiTaskOperator):
    kind = TaskKind.CLASSIFY
    operator_name = "classify_images"
    label = "Gemini: classify images"
    summary = (
        "Pick the class (or classes) of each image from a closed list: `classes`, or the "
        "labels of `classes_field`."
    )
    own_parameters = {"classes": Names(), "classes_field": Text(), "multi_label": Flag()}

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        # one of the two is needed: the list is required until a field is picked
        classes_inputs(inputs, collection, required=not params.given("classes_field"))
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
    summary = "Write a caption for each image into a string field."
    own_parameters = {"detail": Choice(("short", "detailed"))}

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
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
    summary = "Ask the same question (`prompt`) about every image; answers go to a string field."
    own_parameters = {"question": Text()}

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        inputs.str(
            "prompt",
            label="Question",
            description="Asked about every image (from Python, `question` works too)",
            required=not params.given("question"),
        )


class PointObjects(GeminiTaskOperator):
    kind = TaskKind.POINT
    operator_name = "point_objects"
    label = "Gemini: point to objects"
    summary = "Gemini's [y, x] points to objects, written as Keypoints."
    own_parameters = jobs.SPATIAL_PARAMETERS

    def task_inputs(
        self, ctx: ExecutionContext, inputs: types.Object, collection: Any, params: Params
    ) -> None:
        spatial_inputs(inputs, collection, what="point to")

    def advanced_task_inputs(self, inputs: types.Object) -> None:
        max_objects_input(inputs)


def classes_inputs(inputs: types.Object, collection: Any, *, required: bool) -> None:
    inputs.list(
        "classes",
        types.String(),
        label="Classes" + ("" if required else " (optional)"),
        description="The vocabulary Gemini must choose from",
        required=required,
        view=types.AutocompleteView(allow_user_input=True, space=forms.HALF),
    )
    choices = forms.field_choices(collection)
    if choices:
        forms.field_dropdown(
            inputs,
            "classes_field",
            choices,
            label="...or take the classes from a field",
            description="Its distinct labels are the vocabulary",
            space=forms.HALF,
        )


def spatial_inputs(inputs: types.Object, collection: Any, *, what: str) -> None:
    inputs.str(
        "prompt",
        label=f"What to {what} (optional)",
        description="e.g. 'red cars'; empty: the prominent objects",
        view=types.View(space=forms.HALF),
    )
    classes_inputs(inputs, collection, required=False)


def max_objects_input(inputs: types.Object) -> None:
    inputs.int(
        "max_objects",
        label="Max objects per image",
        description="Gemini is asked for at most this many; more are dropped",
        default=TaskSpec.max_objects,
        min=1,
        max=jobs.MAX_OBJECTS,
    )


TASK_OPERATORS = (
    DetectObjects,
    SegmentObjects,
    ClassifyImages,
    CaptionImages,
    AskImages,
    PointObjects,
)
