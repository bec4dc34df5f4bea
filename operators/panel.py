"""The Gemini panel: what the next run would act on, one-click task entries, the dataset's run
history with what to do about each run, and what the runs cost.

Everything long-running stays in the operators (immediate or delegated): the panel only reads
run records and opens forms, views and other panels, so it never blocks the App.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone.operators.executor import ExecutionContext

from gemini_vision.adapters import history
from gemini_vision.adapters.runs import plugin_label_fields
from gemini_vision.errors import GeminiVisionError

from . import forms, jobs
from .task_operators import TASK_OPERATORS

logger = logging.getLogger(__name__)

PLUGIN = "@gemini-vision/gemini"
#: FiftyOne's own Model Evaluation panel
EVALUATION_PANEL = "model_evaluation_panel_builtin"
#: task kind -> its operator's name, in the order the panel offers them
TASK_OPERATOR_NAMES = {op.kind.value: op.operator_name for op in TASK_OPERATORS}
#: the task entries' labels (each opens "Gemini: <task>")
TASK_LABELS = {
    "detect": "Detect",
    "segment": "Segment",
    "classify": "Classify",
    "caption": "Caption",
    "ask": "Ask each",
    "point": "Point",
}
#: the run table's columns: row key -> header
COLUMNS = {
    "label_field": "Field",
    "run": "Task and model",
    "status": "Status",
    "samples": "Samples",
    "cost": "Cost",
    "when": "When (UTC)",
}
HELP = (
    "Send the selected samples (or the current view) to Google's Gemini and review what came "
    "back. Each run into a field is recorded on the dataset: reopen its failures, run them "
    "again, open its evaluation, or delete what it wrote."
)


class GeminiPanel(foo.Panel):
    @property
    def config(self) -> foo.PanelConfig:
        return foo.PanelConfig(
            name="gemini_panel",
            label="Gemini",
            help_markdown=HELP,
            surfaces="grid modal",  # a compact version in the sample modal
            **forms.ICONS,
        )

    # -- App events ---------------------------------------------------------------------------

    def on_load(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    def on_change_dataset(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    def on_change_view(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    def on_change_selected(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    def on_change_current_sample(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    def on_refresh(self, ctx: ExecutionContext) -> None:
        refresh(ctx)

    # -- per-run actions ----------------------------------------------------------------------

    def on_show_failures(self, ctx: ExecutionContext) -> None:
        run = _run_of_row(ctx)
        if run is not None:
            field = run["label_field"]
            # the view last: the App loads its page for a moment, and an operation it is
            # handed meanwhile may find the page not there yet ("entry is loading")
            ctx.ops.set_active_fields([field, f"{field}_error"])
            ctx.ops.set_view(history.failures_view(ctx.dataset, field))

    def on_rerun_failures(self, ctx: ExecutionContext) -> None:
        run = _run_of_row(ctx)
        if run is not None:
            ctx.ops.set_view(history.failures_view(ctx.dataset, run["label_field"]))
            ctx.prompt(_task_uri(run["task"]), params=_rerun_params(ctx, run))

    def on_open_evaluation(self, ctx: ExecutionContext) -> None:
        run = _run_of_row(ctx)
        if run is not None and run["eval_keys"]:
            ctx.ops.open_panel(EVALUATION_PANEL, layout="horizontal")
            ctx.ops.set_view(ctx.dataset.load_evaluation_view(run["eval_keys"][-1]))

    def on_show_flawed(self, ctx: ExecutionContext) -> None:
        run = _run_of_row(ctx)
        if run is not None:
            ctx.ops.set_view(history.flawed_view(ctx.dataset, run["label_field"]))

    def on_delete_run(self, ctx: ExecutionContext) -> None:
        run = _run_of_row(ctx)
        if run is not None:
            uri = f"{PLUGIN}/delete_gemini_run"
            ctx.prompt(uri, params={"label_field": run["label_field"]}, on_success=self.on_refresh)

    # -- layout -------------------------------------------------------------------------------

    def render(self, ctx: ExecutionContext) -> types.Property:
        if ctx.current_sample:  # in the sample modal: this sample only
            return _render_sample(ctx)
        panel = types.Object()
        state = ctx.panel.state
        panel.md(_target_markdown(state.counts or {}), name="acts_on")
        entries = panel.h_stack("tasks", align_x="left", gap=1)
        for kind, name in TASK_OPERATOR_NAMES.items():
            entries.btn(
                f"task_{kind}",
                label=TASK_LABELS[kind],
                icon="auto_awesome",
                variant="outlined",
                on_click=f"{PLUGIN}/{name}",
                prompt=True,
                params=state.prefill or {},
            )
        panel.md(state.active or "", name="active")
        panel.md("#### Runs", name="runs_header")
        runs = state.runs or []
        if runs:
            panel.list("runs_table", types.Object(), view=_run_table(self, runs))
        else:
            panel.md("No Gemini run on this dataset yet.", name="no_runs")
        panel.md(state.spending or "", name="spending")
        panel.btn("refresh", label="Refresh", icon="refresh", on_click=self.on_refresh)
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))


def _render_sample(ctx: ExecutionContext) -> types.Property:
    """The compact panel of the sample modal: what each Gemini run gave this sample (or why
    it failed), and asking Gemini about it."""
    panel = types.Object()
    panel.md(ctx.panel.state.sample or "", name="sample_results")
    panel.btn(
        "ask_about_sample",
        label="Ask Gemini about this sample",
        icon="auto_awesome",
        variant="outlined",
        on_click=f"{PLUGIN}/ask_about_sample",
        prompt=True,
        params={"sample_id": ctx.current_sample},
    )
    return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))


def _sample_markdown(dataset: Any, sample_id: str) -> str:
    results = history.sample_results(dataset, sample_id)
    if not results:
        return "No Gemini run on this dataset yet."
    lines = [f"- `{field}`: {what}" for field, what in results]
    return "#### Gemini on this sample\n\n" + "\n".join(lines)


def refresh(ctx: ExecutionContext) -> None:
    """Reads what the panel shows into its state (and the table's rows into its data)."""
    dataset = ctx.dataset
    if dataset is None:
        return
    selected = len(ctx.selected or [])
    target = {"selected": selected, "view": ctx.view.count(), "dataset": dataset.count()}
    entries = history.run_history(dataset)
    runs = [_row_state(dataset, entry) for entry in entries]
    state = {
        "counts": target,
        "prefill": _prefill(selected, entries),
        "runs": runs,
        "active": _active_markdown(dataset),
        "spending": _spending_markdown(history.spending(dataset)),
        "sample": _sample_markdown(dataset, ctx.current_sample) if ctx.current_sample else None,
    }
    # only what changed: every update makes the App redraw the panel, and the App is often
    # loading a new page just then (a view or dataset change is what asked for the refresh)
    for key, value in state.items():
        if ctx.panel.state.get(key) != json.loads(json.dumps(value, default=str)):
            ctx.panel.set_state(key, value)
    rows = [_row(entry) for entry in entries]
    digest = hashlib.sha1(json.dumps(rows, default=str).encode()).hexdigest()
    if ctx.panel.state.get("table_digest") != digest:
        ctx.panel.set_state("table_digest", digest)  # what the table shows, to compare
        ctx.panel.set_data("runs_table", rows)


def _row_state(dataset: Any, entry: history.RunEntry) -> dict[str, Any]:
    """What the row actions need of a run (the table's cells are in the panel's data)."""
    return {
        "label_field": entry.label_field,
        "task": entry.task,
        "model": entry.model,
        "eval_keys": list(entry.eval_keys),
        "evals": bool(entry.eval_keys),
        "failed": bool(dataset.has_field(f"{entry.label_field}_error"))
        and history.failures_view(dataset, entry.label_field).count() > 0,
        "flawed": bool(entry.incomplete or entry.objects_without_mask),
    }


def _row(entry: history.RunEntry) -> dict[str, Any]:
    status = entry.status
    if entry.stopped_reason:
        status = f"stopped: {entry.stopped_reason[:80]}"
    prompt = f" - {entry.prompt[:40]}" if entry.prompt else ""
    incomplete = entry.incomplete + entry.objects_without_mask
    tokens = entry.input_tokens + entry.output_tokens
    return {
        "label_field": entry.label_field,
        "run": f"{entry.task} · {entry.model}{prompt}",
        "status": status,
        "samples": f"{entry.labelled:,} labelled · {entry.failed:,} failed · "
        f"{incomplete:,} incomplete",
        "cost": f"${entry.cost_usd:.4f} ({tokens:,} tokens)"
        + (f" · {entry.from_cache:,} from the cache" if entry.from_cache else ""),
        "when": (entry.finished_at or "")[:16].replace("T", " "),
    }


def _run_table(panel: GeminiPanel, runs: list[dict[str, Any]]) -> types.TableView:
    """The runs, a row each. Each run has actions of its own, shown on its row only and named
    after its field (``show_failures:<field>``): the App tells an action's name and a row
    index, and only the name is sure to be the run the user clicked on."""
    table = types.TableView(max_inline_actions=2)
    for key, header in COLUMNS.items():
        table.add_column(key, label=header)
    actions = [
        ("show_failures", "Show failures", "error_outline", panel.on_show_failures, "failed"),
        ("rerun_failures", "Re-run failures", "replay", panel.on_rerun_failures, "failed"),
        ("open_evaluation", "Open evaluation", "ssid_chart", panel.on_open_evaluation, "evals"),
        ("show_flawed", "Show incomplete answers / objects without masks", "rule",
         panel.on_show_flawed, "flawed"),
        ("delete_run", "Delete run", "delete", panel.on_delete_run, None),
    ]  # fmt: skip
    for row, run in enumerate(runs):
        for name, label, icon, callback, needs in actions:
            if needs and not run[needs]:
                continue
            rows = [i == row for i in range(len(runs))]
            action = f"{name}{ACTION_SEPARATOR}{run['label_field']}"
            table.add_row_action(action, callback, label=label, icon=icon, rows=rows)
    return table


#: between an action's name and the field of the run it acts on
ACTION_SEPARATOR = ":"


def _run_of_row(ctx: ExecutionContext) -> dict[str, Any] | None:
    """The run a row action was clicked for (its field ends the action's name), read afresh
    from the dataset; None, and the table redrawn, when that run is gone."""
    _, _, field = str(ctx.params.get("event") or "").partition(ACTION_SEPARATOR)
    for entry in history.run_history(ctx.dataset):
        if entry.label_field == field:
            return _row_state(ctx.dataset, entry)
    ctx.ops.notify(f"'{field}' has no Gemini run any more", variant="warning")
    refresh(ctx)
    return None


def _task_uri(kind: str) -> str:
    return f"{PLUGIN}/{TASK_OPERATOR_NAMES[kind]}"


def _prefill(selected: int, entries: list[history.RunEntry]) -> dict[str, Any]:
    """The values a task entry opens its form with: the selection when there is one, else the
    current view; the model of the latest run."""
    prefill: dict[str, Any] = {"target": "SELECTED_SAMPLES" if selected else "CURRENT_VIEW"}
    if entries and entries[0].model:
        prefill["model"] = entries[0].model
    return prefill


def _rerun_params(ctx: ExecutionContext, run: dict[str, Any]) -> dict[str, Any]:
    """The run's own task, model and field, on the current view (its failed samples): a rerun
    sends only the samples that have no result yet."""
    record = plugin_label_fields(ctx.dataset).get(run["label_field"]) or {}
    try:
        asked = jobs.task_params(record.get("task") or {"kind": run["task"]})
    except (GeminiVisionError, KeyError, ValueError):
        asked = {}
    return {
        **asked,
        "target": "CURRENT_VIEW",
        "label_field": run["label_field"],
        "model": run["model"],
    }


def _target_markdown(target: dict[str, int]) -> str:
    selected, view, total = (target.get(k, 0) for k in ("selected", "view", "dataset"))
    if selected:
        acts_on = f"the **{selected:,} selected** samples"
    elif view != total:
        acts_on = f"the **current view** ({view:,} of {total:,} samples)"
    else:
        acts_on = f"the **whole dataset** ({total:,} samples)"
    return f"### Gemini\nThe next run acts on {acts_on}. Pick a task to open its form:"


def _active_markdown(dataset: Any) -> str:
    try:
        active = history.active_operations(dataset)
    except Exception:  # the delegated operations store is optional: say nothing then
        logger.debug("Delegated operations could not be listed", exc_info=True)
        return ""
    lines = []
    for op in active:
        progress = op["progress"]
        done = f", {progress:.0%}" if isinstance(progress, (int, float)) else ""
        label = f" - {op['label']}" if op.get("label") else ""
        field = f" into `{op['label_field']}`" if op.get("label_field") else ""
        lines.append(f"- `{op['operator']}`{field}: {op['state']}{done}{label}")
    return "#### Delegated runs under way\n" + "\n".join(lines) if lines else ""


def _spending_markdown(spent: history.Spending) -> str:
    if not spent.invocations:
        return ""
    lines = [
        f"#### Spent on this dataset\n**{spent.input_tokens + spent.output_tokens:,} tokens, "
        f"${spent.cost_usd:.4f}** over {spent.invocations} run(s)",
        "",
        "| model | runs | input tokens | output tokens | cost |",
        "|---|---:|---:|---:|---:|",
    ]
    for model, totals in spent.by_model.items():
        lines.append(
            f"| {model} | {totals['invocations']:.0f} | {totals['input_tokens']:,.0f} | "
            f"{totals['output_tokens']:,.0f} | ${totals['cost_usd']:.4f} |"
        )
    return "\n".join(lines)
