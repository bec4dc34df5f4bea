"""The Gemini panel and the buttons where the hands are, driven as the App drives them: panel
events through the panel's ``execute`` with an App-style request, whose effects (views set,
panels opened, forms prompted) are the invocation requests it sends back to the App."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.usefixtures("plugin_env")]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.executor import ExecutionContext, ExecutionError, Executor  # noqa: E402

from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


@pytest.fixture(scope="module")
def labelled(datasets: DatasetFactory, gemini: Any) -> Iterator[Any]:
    """Six scenes, detected twice by the plugin: into ``pred`` (the first sample's image is
    broken, so it fails; evaluated as ``eval_pred``) and into ``pred_b`` (another model)."""
    import os

    dataset = datasets.scenes(6, seed=21)
    broken = dataset.first()
    Path(broken.filepath).write_bytes(b"not an image")
    env = {"GEMINI_API_KEY": "test-key-panel-0001", "GOOGLE_GEMINI_BASE_URL": gemini.base_url}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run(
            "detect_objects",
            dataset,
            target="DATASET",
            label_field="pred",
            gt_field=GT_DETECTIONS,
            eval_key="eval_pred",
        )
        run(
            "detect_objects",
            dataset,
            target="DATASET",
            label_field="pred_b",
            model="gemini-2.5-flash-lite",
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield dataset


def run(name: str, dataset: Any, **params: Any) -> Any:
    result = foo.execute_operator(f"{PLUGIN}/{name}", ctx={"dataset": dataset, "params": params})
    dataset.reload()
    return result


class AppEvent:
    """One panel event as the App sends it; ``state`` is the panel's state afterwards and
    ``requests`` what the panel asked the App to do (operator URI -> params, in order)."""

    def __init__(self, dataset: Any, method: str, **options: Any) -> None:
        self.executor = Executor()
        params = {
            "panel_id": "gemini-panel-test",
            "panel_state": options.pop("state", {}),
            "__method__": method,
            **options.pop("params", {}),
        }
        request = {"dataset_name": dataset.name, "params": params, **options}
        self.ctx = ExecutionContext(request_params=request, executor=self.executor)
        foo.get_operator(f"{PLUGIN}/gemini_panel").execute(self.ctx)
        self.state: dict[str, Any] = self.ctx.panel_state
        self.requests = [(r.operator_uri, r.params) for r in self.executor._requests]

    def asked(self, operator: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == operator]

    def rendered(self) -> dict[str, Any]:
        (output,) = self.asked("show_panel_output")
        return json.loads(json.dumps(output, default=str))


def view_of(dataset: Any, request: dict[str, Any]) -> Any:
    return fo.DatasetView._build(dataset, json.loads(json.dumps(request["view"])))


def row_of(state: dict[str, Any], field: str) -> int:
    return [run["label_field"] for run in state["runs"]].index(field)


def clicked(state: dict[str, Any], action: str, field: str) -> dict[str, Any]:
    """What the App sends when ``action`` is chosen on ``field``'s row: the row and the
    action's name."""
    return {"row": row_of(state, field), "event": f"{action}:{field}"}


def test_the_panel_shows_each_run_with_its_counts_and_what_it_cost(labelled: Any) -> None:
    event = AppEvent(labelled, "on_load")
    state = event.state
    assert [r["label_field"] for r in state["runs"]] == ["pred_b", "pred"]  # newest first
    (data,) = event.asked("patch_panel_data")
    rows = {row["label_field"]: row for row in data["data"]["runs_table"]}
    assert rows["pred"]["samples"] == "5 labelled · 1 failed · 0 incomplete"
    assert rows["pred_b"]["run"] == "detect · gemini-2.5-flash-lite"
    assert rows["pred"]["status"] == "finished"
    results = labelled.load_run_results("gemini_pred")
    record = results.latest
    assert results.history == []  # one invocation: its "running" placeholder is no history
    tokens = record["input_tokens"] + record["output_tokens"]
    assert rows["pred"]["cost"] == f"${record['cost_usd']:.4f} ({tokens:,} tokens)"
    # the running total covers both runs, per model
    assert (
        "gemini-2.5-flash |" in state["spending"]
        and "gemini-2.5-flash-lite |" in state["spending"]
    )
    assert state["counts"] == {"selected": 0, "view": 6, "dataset": 6}


def test_a_run_answered_from_the_cache_says_so_in_its_cost(
    labelled: Any, datasets: DatasetFactory, gemini: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = datasets.clone(labelled)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-panel-0003")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini.base_url)
    run("detect_objects", dataset, target="DATASET", label_field="again", gt_field=GT_DETECTIONS)
    (data,) = AppEvent(dataset, "on_load").asked("patch_panel_data")
    rows = {row["label_field"]: row for row in data["data"]["runs_table"]}
    assert rows["again"]["cost"] == "$0.0000 (0 tokens) · 5 from the cache"  # as "pred" asked
    assert "from the cache" not in rows["pred_b"]["cost"]


def test_the_panel_follows_the_selection_and_fills_the_task_forms_for_it(labelled: Any) -> None:
    ids = labelled.values("id")[:3]
    event = AppEvent(labelled, "on_change_selected", selected=ids)
    assert event.state["counts"]["selected"] == 3
    assert event.state["prefill"]["target"] == "SELECTED_SAMPLES"
    rendered = json.dumps(event.rendered())
    assert "the **3 selected** samples" in rendered
    for operator in ("detect_objects", "segment_objects", "classify_images", "caption_images"):
        assert f'"operator": "{PLUGIN}/{operator}"' in rendered
    assert '"prompt": true' in rendered


def test_row_actions_are_offered_where_they_apply(labelled: Any) -> None:
    event = AppEvent(labelled, "on_load")
    table = _table(event.rendered())
    flags = {action["name"]: action["rows"] for action in table["row_actions"]}
    pred, pred_b = row_of(event.state, "pred"), row_of(event.state, "pred_b")
    # each run's actions are named after it and shown on its row only
    assert [i for i, shown in enumerate(flags["show_failures:pred"]) if shown] == [pred]
    assert [i for i, shown in enumerate(flags["delete_run:pred_b"]) if shown] == [pred_b]
    assert "show_failures:pred_b" in flags  # both met the broken image
    assert "open_evaluation:pred" in flags and "open_evaluation:pred_b" not in flags


def test_show_failures_loads_exactly_the_failed_samples_with_their_reasons(labelled: Any) -> None:
    state = AppEvent(labelled, "on_load").state
    event = AppEvent(
        labelled, "on_show_failures", state=state, params=clicked(state, "show_failures", "pred")
    )
    (request,) = event.asked("set_view")
    assert view_of(labelled, request).values("id") == [labelled.first().id]
    (active,) = event.asked("set_active_fields")
    assert active["fields"] == ["pred", "pred_error"]


def test_rerun_failures_opens_the_task_form_filled_with_the_run_on_its_failures(
    labelled: Any,
) -> None:
    state = AppEvent(labelled, "on_load").state
    event = AppEvent(
        labelled, "on_rerun_failures", state=state, params=clicked(state, "rerun_failures", "pred")
    )
    (view,) = event.asked("set_view")
    assert view_of(labelled, view).values("id") == [labelled.first().id]
    (prompt,) = event.asked("prompt_user_for_operation")
    assert prompt["operator_uri"] == f"{PLUGIN}/detect_objects"
    asked = prompt["params"]
    assert asked["label_field"] == "pred" and asked["target"] == "CURRENT_VIEW"
    assert asked["model"] == "gemini-2.5-flash" and asked["max_objects"] == 25


def test_open_evaluation_loads_its_view_and_opens_the_model_evaluation_panel(
    labelled: Any,
) -> None:
    state = AppEvent(labelled, "on_load").state
    event = AppEvent(
        labelled,
        "on_open_evaluation",
        state=state,
        params=clicked(state, "open_evaluation", "pred"),
    )
    assert len(event.asked("set_view")) == 1
    (panel,) = event.asked("open_panel")
    assert panel["name"] == "model_evaluation_panel_builtin"


def test_delete_run_removes_only_what_the_plugin_wrote(
    labelled: Any, datasets: DatasetFactory
) -> None:
    dataset = datasets.clone(labelled)
    ground_truth = dataset.values(f"{GT_DETECTIONS}.detections.id")
    state = AppEvent(dataset, "on_load").state
    params = clicked(state, "delete_run", "pred")
    event = AppEvent(dataset, "on_delete_run", state=state, params=params)
    (prompt,) = event.asked("prompt_user_for_operation")
    assert prompt["operator_uri"] == f"{PLUGIN}/delete_gemini_run"  # confirmed in its form
    result = run("delete_gemini_run", dataset, **prompt["params"])
    assert result.error is None, result.error
    assert sorted(result.result["deleted_fields"]) == ["pred", "pred_error"]
    assert not dataset.has_field("pred") and not dataset.has_field("pred_error")
    assert "eval_pred" not in dataset.list_evaluations()
    assert "gemini_pred" not in dataset.list_runs() and dataset.has_field("pred_b")
    assert dataset.values(f"{GT_DETECTIONS}.detections.id") == ground_truth
    with pytest.raises(ExecutionError, match="was not written by Gemini Vision"):
        run("delete_gemini_run", dataset, label_field=GT_DETECTIONS)
    assert dataset.values(f"{GT_DETECTIONS}.detections.id") == ground_truth


def test_a_row_action_acts_on_its_own_run_whatever_state_the_app_sends(
    labelled: Any, datasets: DatasetFactory, gemini: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The App may send panel state older than the table it shows, so a row index can name
    another run after a new one was added: the action's name decides, and a run that is
    gone is said, never replaced by another."""
    dataset = datasets.clone(labelled)
    stale = AppEvent(dataset, "on_load").state  # drawn before the next run
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-panel-0002")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini.base_url)
    run("caption_images", dataset, target="DATASET", label_field="newest")
    fresh = AppEvent(dataset, "on_load").state
    params = {"row": row_of(fresh, "newest"), "event": "delete_run:newest"}
    event = AppEvent(dataset, "on_delete_run", state=stale, params=params)
    (prompt,) = event.asked("prompt_user_for_operation")
    assert prompt["params"] == {"label_field": "newest"}
    run("delete_gemini_run", dataset, label_field="newest")
    event = AppEvent(dataset, "on_delete_run", state=fresh, params=params)
    assert not event.asked("prompt_user_for_operation")
    (notice,) = event.asked("notify")
    assert "'newest' has no Gemini run any more" in notice["message"]


def test_in_the_sample_modal_the_panel_shows_what_each_run_gave_this_sample(
    labelled: Any,
) -> None:
    broken, fine = labelled.first(), labelled.skip(1).first()
    event = AppEvent(labelled, "on_change_current_sample", current_sample=broken.id)
    text = event.state["sample"]
    assert "`pred`: failed: " in text and "not a recognised image file" in text
    event = AppEvent(labelled, "on_load", current_sample=fine.id, state=event.state)
    lines = event.state["sample"].splitlines()
    objects = len(fine["pred"].detections)
    assert f"- `pred`: {objects} object(s): " in "\n".join(lines)
    assert any(line.startswith("- `pred_b`: ") for line in lines)
    rendered = json.dumps(event.rendered())
    assert "Ask Gemini about this sample" in rendered and fine.id in rendered
    assert "runs_table" not in rendered  # the compact version: no run table


def test_the_grid_button_opens_a_menu_of_tasks_for_the_selection(labelled: Any) -> None:
    menu = foo.get_operator(f"{PLUGIN}/gemini_tasks")
    ctx = ExecutionContext(request_params={"dataset_name": labelled.name, "params": {}})
    placement = menu.resolve_placement(ctx).to_json()
    assert placement["place"] == "samples-grid-actions"
    assert placement["view"]["icon"].endswith(".svg") and placement["view"]["darkIcon"]
    ids = labelled.values("id")[:2]
    executor = Executor()
    request = {"dataset_name": labelled.name, "selected": ids, "params": {"task": "segment"}}
    menu.execute(ExecutionContext(request_params=request, executor=executor))
    (asked,) = [r for r in executor._requests if r.operator_uri == "prompt_user_for_operation"]
    assert asked.params["operator_uri"] == f"{PLUGIN}/segment_objects"
    assert asked.params["params"] == {"target": "SELECTED_SAMPLES"}
    executor = Executor()
    request["params"] = {"task": "panel"}
    menu.execute(ExecutionContext(request_params=request, executor=executor))
    assert [r.params["name"] for r in executor._requests if r.operator_uri == "open_panel"] == [
        "gemini_panel"
    ]


def test_the_sample_viewer_action_asks_about_the_sample_on_screen(labelled: Any) -> None:
    ask = foo.get_operator(f"{PLUGIN}/ask_about_sample")
    ctx = ExecutionContext(request_params={"dataset_name": labelled.name, "params": {}})
    assert ask.resolve_placement(ctx).to_json()["place"] == "samples-viewer-actions"
    sample_id = labelled.values("id")[2]
    result = foo.execute_operator(
        f"{PLUGIN}/ask_about_sample",
        ctx={"dataset": labelled, "current_sample": sample_id, "params": {"question": "What?"}},
    )
    assert result.error is None, result.error
    assert result.result["answer"] and result.result["question"] == "What?"
    with pytest.raises(ExecutionError, match="no sample on screen"):
        foo.execute_operator(f"{PLUGIN}/ask_about_sample", ctx={"dataset": labelled, "params": {}})


def _table(rendered: dict[str, Any]) -> dict[str, Any]:
    """The run table's view in a rendered panel."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("name") == "TableView":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(rendered)
    (table,) = found
    return table
