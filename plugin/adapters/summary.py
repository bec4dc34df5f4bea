"""What a run reports: :class:`RunSummary`, and the words and colour the App shows for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gemini_vision.catalog import DEFAULT_MODEL, price_for

__all__ = ["RunSummary", "describe_summary", "run_markdown", "summary_variant"]


@dataclass
class RunSummary:
    """A finished run: its output field, task, model, sample counts and the engine's report
    (``report``: labelled, failed, tokens, cost...; see ``EngineReport.to_dict``); the run
    record's key on the dataset, and the evaluation's metrics when one ran."""

    label_field: str
    task: dict[str, Any]
    model: str
    total: int
    skipped: int
    report: dict[str, Any]
    run_key: str | None = None
    evaluation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summary_variant(summary: Mapping[str, Any] | None) -> str:
    """The App notification's variant: ``error`` when the run stopped (bad key, unknown model,
    quota), ``warning`` when samples failed, answers were incomplete or masks missing, else
    ``success``."""
    report = (summary or {}).get("report", {})
    if report.get("stopped_reason"):
        return "error"
    flawed = report.get("failed") or report.get("incomplete") or report.get("objects_without_mask")
    return "warning" if flawed else "success"


def describe_summary(summary: Mapping[str, Any] | None) -> str:
    """One line for the App's notification."""
    if not summary:
        return "Done"
    report = summary.get("report", {})
    field = summary.get("label_field")
    cost = price_for(summary.get("model", DEFAULT_MODEL)).cost(
        report.get("input_tokens", 0), report.get("output_tokens", 0)
    )
    skipped = summary.get("skipped", 0)
    if skipped and not report.get("processed") and not report.get("stopped_reason"):
        return (
            f"Nothing to do: all {skipped} samples already have a result in '{field}' "
            "(overwrite runs them again)"
        )
    text = (
        f"{report.get('labelled', 0)} labelled, {report.get('failed', 0)} failed, "
        f"{skipped} skipped in '{field}' "
        f"(~${cost:.4f}, {report.get('duration_seconds', 0):.0f} s)"
    )
    reasons = report.get("failure_reasons") or {}
    if report.get("failed") and reasons:
        reason, count = next(iter(reasons.items()))
        text += f". Most common reason ({count}x): {reason}"
    if report.get("from_cache"):
        text += (
            f". {report['from_cache']} answered from the response cache (identical requests "
            "answered before; no cost)"
        )
    if report.get("incomplete"):
        text += (
            f". {report['incomplete']} answer(s) were cut short (at the output limit, or "
            f"broken JSON) and kept only their complete objects ({field}.incomplete says why)"
        )
    if report.get("objects_without_mask"):
        text += (
            f". {report['objects_without_mask']} object(s) came without a usable mask (box "
            f"only; the reason is in {field}.detections.mask_error)"
        )
    if report.get("stopped_reason"):
        text += f". Stopped: {report['stopped_reason']}"
    return text + _evaluation_words(summary.get("evaluation"))


def _evaluation_words(evaluation: Mapping[str, Any] | None) -> str:
    if not evaluation:
        return ""
    metrics = ", ".join(
        f"{k} {evaluation[k]:.3f}"
        for k in ("precision", "recall", "accuracy", "mAP")
        if isinstance(evaluation.get(k), float)
    )
    result = f"not computed ({evaluation['error']})" if "error" in evaluation else metrics
    return f". Evaluation '{evaluation['eval_key']}': {result}"


def run_markdown(summary: Mapping[str, Any] | None) -> str:
    """What a run did, for the App's output view: the counts, tokens and cost, the evaluation
    when one ran, and where to look next."""
    if not summary:
        return "Done."
    report = summary.get("report", {})
    field = summary.get("label_field")
    cost = price_for(summary.get("model", DEFAULT_MODEL)).cost(
        report.get("input_tokens", 0), report.get("output_tokens", 0)
    )
    rows = [
        ("labelled", report.get("labelled", 0)),
        ("failed", report.get("failed", 0)),
        ("skipped (already done)", summary.get("skipped", 0)),
        ("incomplete answers", report.get("incomplete", 0)),
        ("objects without a usable mask", report.get("objects_without_mask", 0)),
        ("answered from the cache", report.get("from_cache", 0)),
        (
            "tokens in / out",
            f"{report.get('input_tokens', 0):,} / {report.get('output_tokens', 0):,}",
        ),
        ("estimated cost", f"${cost:.4f}"),
        ("time", f"{report.get('duration_seconds', 0):.1f} s"),
    ]
    lines = [
        f"**{describe_summary(summary)}**",
        "",
        f"`{field}` with {summary.get('model')}",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows if value not in (0, None)),
        *_next_steps(summary),
    ]
    return "\n".join(lines)


def _next_steps(summary: Mapping[str, Any]) -> list[str]:
    report = summary.get("report", {})
    field = summary.get("label_field")
    steps = []
    evaluation = summary.get("evaluation") or {}
    if evaluation and "error" not in evaluation:
        steps.append(
            f"- The evaluation `{evaluation['eval_key']}` is in the **Model Evaluation** panel."
        )
    if report.get("failed"):
        steps.append(f"- Failed samples and why: `{field}_error` (filter on it in the sidebar).")
    if report.get("incomplete"):
        steps.append(f"- Incomplete answers: `{field}.incomplete` says why.")
    if report.get("objects_without_mask"):
        steps.append(f"- Objects without a mask: `{field}.detections.mask_error`.")
    return ["", "**Next**", *steps] if steps else []
