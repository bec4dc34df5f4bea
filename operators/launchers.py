"""Gemini where the hands are: a button in the samples grid's action bar that opens a menu of
the tasks for the current selection or view, and an action in the sample viewer that asks
Gemini about the sample on screen."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision import adapters
from gemini_vision.adapters.ask import ANSWERS_KEY

from . import forms, jobs
from .params import Choice, Params, Text
from .task_operators import TASK_OPERATORS

PLUGIN = "@gemini-vision/gemini"
PANEL = "panel"
#: menu entry -> (label, operator name); the panel first, then every task
MENU = {PANEL: ("Open the Gemini panel (run history, failures, costs)", None)} | {
    op.kind.value: (op.label.removeprefix("Gemini: ").capitalize(), op.operator_name)
    for op in TASK_OPERATORS
}
MENU_PARAMETERS = {"task": Choice(tuple(MENU))}
DEFAULT_QUESTION = "Describe this image in detail."
#: a placement button's icon, as the App reads it (light and dark variants)
BUTTON_ICONS = {
    "icon": forms.ICONS["icon"],
    "lightIcon": forms.ICONS["light_icon"],
    "darkIcon": forms.ICONS["dark_icon"],
}
SAMPLE_PARAMETERS = {
    name: jobs.TASK_PARAMETERS[name] for name in ("model", "prompt", "max_image_side")
} | {"sample_id": Text(), "question": Text()}


class GeminiTasks(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="gemini_tasks",
            label="Gemini: choose a task",
            description=(
                "A menu of Gemini's tasks for the selected samples (or the current view): "
                "picking one opens that task's form, filled in for them; or open the Gemini "
                "panel. Sends nothing by itself."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=False,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.LOW,  # opens a form or a panel
            **forms.ICONS,
        )

    def resolve_placement(self, ctx: ExecutionContext) -> types.Placement:
        button = types.Button(label="Gemini", prompt=True, **BUTTON_ICONS)
        return types.Placement(types.Places.SAMPLES_GRID_ACTIONS, button)

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, MENU_PARAMETERS)
        menu = types.RadioGroup(orientation="vertical")
        for value, (label, _) in MENU.items():
            menu.add_choice(value, label=label)
        inputs.enum("task", menu.values(), default="detect", view=menu, label=_acts_on(ctx))
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Gemini", submit_button_label="Open"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, MENU_PARAMETERS)
        choice = params.get("task", "detect")
        params.check()
        _, operator = MENU[choice]
        if operator is None:
            # below the grid: beside it, the grid's action bar would lose this very button
            ctx.ops.open_panel("gemini_panel", layout="vertical")
        else:
            target = "SELECTED_SAMPLES" if ctx.selected else "CURRENT_VIEW"
            ctx.prompt(f"{PLUGIN}/{operator}", params={"target": target})
        return {"opened": operator or "gemini_panel"}


class AskAboutSample(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="ask_about_sample",
            label="Gemini: ask about this sample",
            description=(
                "Ask Gemini one question about the sample on screen in the sample viewer (or "
                "the sample `sample_id` names) and show the answer. Sends that image and the "
                "question to Google's Gemini API, billed to your Gemini key; the answer is kept "
                f"with the question in dataset.info['{ANSWERS_KEY}'] (the last 50)."
            ),
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=False,
            view_target=False,
            disable_schema_validation=True,
            risk_level=types.RiskLevel.HIGH,
            **forms.ICONS,
        )

    def resolve_placement(self, ctx: ExecutionContext) -> types.Placement:
        button = types.Button(label="Ask Gemini about this sample", prompt=True, **BUTTON_ICONS)
        return types.Placement(types.Places.SAMPLES_VIEWER_ACTIONS, button)

    def resolve_input(self, ctx: ExecutionContext) -> types.Property:
        inputs = types.Object()
        params = Params(ctx.params, SAMPLE_PARAMETERS)
        if _sample(ctx, params, fresh=False) is not None:
            forms.model_input(ctx, inputs)
            inputs.str("question", label="Question", default=DEFAULT_QUESTION, required=True)
        params.mark(inputs)
        return types.Property(inputs, view=types.View(label="Ask Gemini about this sample"))

    def execute(self, ctx: ExecutionContext) -> dict[str, Any]:
        params = Params(ctx.params, SAMPLE_PARAMETERS)
        sample = _sample(ctx, params, fresh=True)
        question = params.text("question") or params.text("prompt") or DEFAULT_QUESTION
        settings = jobs.run_settings(ctx, params)
        params.check()
        return adapters.ask_about_samples(sample, question, settings=settings)

    def resolve_output(self, ctx: ExecutionContext) -> types.Property:
        outputs = types.Object()
        outputs.str("question", label="Question")
        outputs.str("answer", label="Gemini's answer", view=types.MarkdownView())
        outputs.str("model", label="Model")
        return types.Property(outputs, view=types.View(label="Gemini's answer"))


def _sample(ctx: ExecutionContext, params: Params, *, fresh: bool) -> Any:
    """The one-sample view asked about (None, with the reason in ``params``, when there is
    none); a missing key or base URL is refused here too, before anything is sent
    (``fresh``: see :func:`.backend.check_backend`)."""
    jobs.check_backend(ctx, params, fresh=fresh)
    sample_id = params.text("sample_id") or ctx.current_sample
    if not sample_id:
        return params.refuse(
            "sample_id", "no sample on screen: open one in the sample viewer, or pass sample_id"
        )
    view = ctx.dataset.select(sample_id)
    if view.count() != 1:
        return params.refuse("sample_id", f"no sample with id {sample_id!r} in this dataset")
    return view


def _acts_on(ctx: ExecutionContext) -> str:
    if ctx.selected:
        return f"For the {len(ctx.selected):,} selected samples"
    return f"For the current view ({ctx.view.count():,} samples)"
