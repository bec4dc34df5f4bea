"""Provenance on the dataset: one FiftyOne run record per label field the plugin writes.

Every run leaves ``gemini_<label_field>`` in ``dataset.list_runs()``: its config holds the task,
model, prompt and parameters (never a secret); its results hold the latest summary (counts,
tokens, cost, duration, the reason it stopped) and a short history of earlier invocations.

The same records answer "did the plugin create this field?", which is how we refuse to write
into a field we did not create (ground truth, another model's predictions) unless the user
explicitly asks to overwrite it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import time
from typing import Any

import fiftyone as fo

from gemini_vision import __version__
from gemini_vision.errors import ConfigurationError

__all__ = [
    "RUN_METHOD",
    "check_writable",
    "load_summary",
    "plugin_fields",
    "plugin_label_fields",
    "record_run",
    "run_key_for",
]

logger = logging.getLogger(__name__)

RUN_METHOD = "gemini_vision"
RUN_KEY_PREFIX = "gemini_"
HISTORY_LENGTH = 20
#: seconds between the reads of a run record found without results (being replaced)
RECORD_REREAD_PAUSES = (0.05, 0.1, 0.2, 0.4)
#: parameter names that must never reach the database
_SECRET_PARAMS = frozenset({"api_key", "key", "secrets", "token"})


def run_key_for(label_field: str) -> str:
    """The run key recording ``label_field``: ``gemini_`` + the field name as an identifier."""
    key = RUN_KEY_PREFIX + re.sub(r"\W", "_", label_field)
    return key if key.isidentifier() else RUN_KEY_PREFIX + "f_" + key[len(RUN_KEY_PREFIX) :]


def _public(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k.lower() not in _SECRET_PARAMS}


def plugin_label_fields(dataset: fo.Dataset) -> dict[str, dict[str, Any]]:
    """``{label_field: run config dict}`` for every field a gemini_vision run wrote."""
    fields: dict[str, dict[str, Any]] = {}
    for key in dataset.list_runs():
        if not key.startswith(RUN_KEY_PREFIX):
            continue
        config = dataset.get_run_info(key).config
        if getattr(config, "method", None) == RUN_METHOD:
            fields[config.label_field] = config.serialize()
    return fields


def check_writable(
    dataset: fo.Dataset,
    label_field: str,
    *,
    overwrite: bool,
    protected_fields: tuple[str | None, ...] = (),
) -> None:
    """Raises :class:`ConfigurationError` if writing ``label_field`` could destroy data.

    A field is writable when it does not exist yet, or when a gemini_vision run created it, or
    when ``overwrite`` is set. Fields in ``protected_fields`` (the ground truth of this run) and
    FiftyOne's built-in fields are never writable.
    """
    if not label_field or not label_field.isidentifier():
        raise ConfigurationError(
            f"'{label_field}' is not a valid field name: use letters, digits and underscores"
        )
    if label_field in {f for f in protected_fields if f}:
        raise ConfigurationError(
            f"'{label_field}' is the ground-truth field of this run; choose another output field"
        )
    if label_field in ("id", "filepath", "tags", "metadata", "created_at", "last_modified_at"):
        raise ConfigurationError(f"'{label_field}' is a built-in FiftyOne field")
    if not dataset.has_field(label_field) or overwrite:
        return
    if label_field not in plugin_label_fields(dataset):
        raise ConfigurationError(
            f"Field '{label_field}' already exists and was not created by Gemini Vision; "
            "choose another field name, or tick 'Overwrite existing results' "
            "(overwrite=True from Python) to replace its contents"
        )


def record_run(
    dataset: fo.Dataset,
    label_field: str,
    config: dict[str, Any],
    summary: dict[str, Any],
) -> str:
    """Registers (or updates) the run record of ``label_field``; returns its run key."""
    key = run_key_for(label_field)
    history: list[dict[str, Any]] = []
    if dataset.has_run(key):
        previous = load_summary(dataset, label_field) or {}
        history = list(previous.get("history", []))
        latest = previous.get("latest")
        if latest and latest.get("state") != "running":  # a placeholder is no invocation
            history.append(latest)
    history = history[-HISTORY_LENGTH:]
    run_config = dataset.init_run(
        method=RUN_METHOD,
        label_field=label_field,
        plugin_version=__version__,
        **_public(config),
    )
    dataset.register_run(key, run_config, overwrite=True, cleanup=False)
    latest = dict(summary, finished_at=_dt.datetime.now(_dt.timezone.utc).isoformat())
    results = dataset.init_run_results(key, latest=latest, history=history)
    dataset.save_run_results(key, results, overwrite=True)
    return key


def load_summary(dataset: fo.Dataset, label_field: str) -> dict[str, Any] | None:
    """``{"latest": {...}, "history": [...]}`` of ``label_field``'s run, if there is one."""
    key = run_key_for(label_field)
    if not dataset.has_run(key):
        return None
    # A record is replaced in two steps (its config, then its results): read between them,
    # it has no results for a moment, so look again before calling it missing.
    for pause in (*RECORD_REREAD_PAUSES, None):
        try:
            results = dataset.load_run_results(key, cache=False, load_view=False)
        except Exception:  # another worker is replacing the record right now
            results = None
        if results is not None:
            latest, history = getattr(results, "latest", None), getattr(results, "history", [])
            return {"latest": latest, "history": history}
        if pause is not None:
            time.sleep(pause)
    logger.warning("Could not read the run record %s; its history is skipped", key)
    return None


def plugin_fields(dataset: fo.Dataset) -> set[str]:
    """The label fields the plugin created on ``dataset``."""
    return set(plugin_label_fields(dataset))
