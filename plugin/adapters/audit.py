"""Find mistakes in the ground truth: Gemini looks at every labelled object again.

:func:`audit_ground_truth` crops each ground-truth object of a collection (with some context,
never too small; see :mod:`gemini_vision.images.crops`) and asks Gemini which class of the
vocabulary it is - or ``none``. The answers go to a new ``Detections`` field that mirrors the
ground truth's boxes (the ground truth itself is never modified): Gemini's label, the
``original_label``, whether they ``agree``, a ``confidence``, a one-line ``reason`` and a
``verdict``. Objects can be tagged (``tag=``), nothing is tagged otherwise.

With ``eval_key`` (an evaluation of predictions against this ground truth), only the objects
the evaluation disputed are looked at, and each gets the verdict that tells a curator what to
do: a false positive is ``missing_ground_truth`` (the object is there: label it) or a
``false_alarm`` (nothing there: the model erred); a false negative is ``doubtful_ground_truth``
(Gemini sees no such object: check the label) or a ``real_miss`` (the model missed it).

Suspects are saved as the view ``suspected label errors``, most confident first, and the
summary counts verdicts per class.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fiftyone as fo
from fiftyone import ViewField as F

from gemini_vision.adapters import runs
from gemini_vision.adapters.fields import check_collection
from gemini_vision.adapters.labels import to_label
from gemini_vision.adapters.objects import ask_about_crops
from gemini_vision.engine import (
    ItemOutcome,
    check_access,
)
from gemini_vision.errors import ConfigurationError
from gemini_vision.images.crops import DEFAULT_MARGIN, DEFAULT_MIN_SIDE
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["NOTHING", "SUSPECTS_VIEW", "AuditSummary", "audit_ground_truth"]


#: the answer meaning "no object of the vocabulary is there"
NOTHING = "none"
SUSPECTS_VIEW = "suspected label errors"
#: verdicts that mean "look at this ground truth"
SUSPECT_VERDICTS = ("wrong_label", "no_object", "missing_ground_truth", "doubtful_ground_truth")
PROMPT = (
    "This picture is cut out of a larger image around one object, which is in its centre. "
    "Which of these classes is the object in the centre: {classes}? Answer 'none' if there is "
    'no such object there. Answer with a JSON object with the class in the key "label" and '
    'your confidence between 0 and 1 in the key "confidence".'
)


@dataclass(frozen=True)
class _Object:
    """One object to look at: its sample, its label's id, box, label, and where it comes
    from (``ground_truth``, or ``prediction`` for an evaluation's false positive)."""

    sample_id: str
    label_id: str
    box: tuple[float, ...]
    label: str
    source: str
    eval_outcome: str | None = None

    @property
    def key(self) -> str:
        return f"{self.sample_id}/{self.label_id}"


@dataclass
class AuditSummary:
    """What an audit found: the output field, verdict counts overall and per class, the
    saved view of suspects, and the cost."""

    label_field: str
    objects: int
    verdicts: dict[str, int]
    per_class: dict[str, dict[str, int]]
    suspects: int
    view_name: str | None
    failed: int = 0
    cost_usd: float = 0.0
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def markdown(self) -> str:
        lines = [
            f"**{self.objects}** objects looked at, **{self.suspects}** suspected "
            f"(saved view: *{self.view_name}*); {self.failed} could not be asked; "
            f"cost ${self.cost_usd:.4f}.",
            "",
            "| class | " + " | ".join(sorted(self.verdicts)) + " |",
            "|---|" + "---|" * len(self.verdicts),
        ]
        for name in sorted(self.per_class):
            row = self.per_class[name]
            lines.append(
                f"| {name} | "
                + " | ".join(str(row.get(v, 0)) for v in sorted(self.verdicts))
                + " |"
            )
        return "\n".join(lines)


def audit_ground_truth(
    collection: Any,
    gt_field: str | None = None,
    *,
    classes: list[str] | tuple[str, ...] | None = None,
    eval_key: str | None = None,
    label_field: str | None = None,
    tag: str | None = None,
    margin: float = DEFAULT_MARGIN,
    min_side: int = DEFAULT_MIN_SIDE,
    settings: RunSettings | None = None,
) -> AuditSummary:
    """Asks Gemini about every ground-truth object (or only those ``eval_key`` disputed) and
    writes its verdicts to ``label_field`` (default ``<gt_field>_audit``); see the module.

    On an evaluation patches view (``to_evaluation_patches(eval_key)``), the evaluation's key
    and ground truth are the defaults, and only the view's samples are looked at."""
    settings = settings or RunSettings()
    source = collection._source_collection if collection._is_patches else collection
    stage = getattr(collection, "_patches_stage", None)
    eval_key = eval_key or getattr(stage, "eval_key", None)
    gt_field = gt_field or getattr(collection, "_gt_field", None)
    if not gt_field:
        raise ConfigurationError("audit_ground_truth needs gt_field, the ground truth to check")
    dataset = source._dataset  # (a patches view's own dataset is a temporary one)
    pred_field = _check(collection, gt_field, eval_key)
    label_field = label_field or f"{gt_field}_audit"
    runs.check_writable(dataset, label_field, overwrite=True, protected_fields=(gt_field,))
    # the whole dataset's classes: in a view, a mislabelled object's true class may be absent
    vocabulary = tuple(classes or dataset.distinct(f"{gt_field}.detections.label"))
    if not vocabulary:
        raise ConfigurationError(f"{gt_field!r} has no labels and no classes were given")
    task = TaskSpec(
        kind=TaskKind.CLASSIFY,
        classes=(*vocabulary, NOTHING),
        with_confidence=True,
        prompt=PROMPT.format(classes=", ".join(repr(c) for c in vocabulary)),
    )
    check_access(settings)
    objects = list(_objects(collection, gt_field, pred_field, eval_key))
    outcomes, cost = _ask(objects, dataset, task, settings, margin, min_side)
    verdicts = _write(dataset, objects, outcomes, label_field, gt_field, tag)
    view_name = _save_suspects(dataset, label_field)
    summary = _summary(label_field, objects, verdicts, outcomes, view_name)
    summary.cost_usd = cost
    return summary


def _check(collection: Any, gt_field: str, eval_key: str | None) -> str | None:
    """Refuses what cannot be audited; returns the evaluation's prediction field."""
    if collection._is_patches:  # evaluation patches: audit their source, under their key
        collection = collection._source_collection
    check_collection(collection)
    field_type = collection.get_field(gt_field)
    if field_type is None or getattr(field_type, "document_type", None) is not fo.Detections:
        raise ConfigurationError(f"{gt_field!r} must be a Detections field of ground truth")
    if eval_key is None:
        return None
    if not collection._dataset.has_evaluation(eval_key):
        raise ConfigurationError(f"there is no evaluation {eval_key!r} on this dataset")
    config = collection._dataset.get_evaluation_info(eval_key).config
    if config.gt_field != gt_field:
        raise ConfigurationError(
            f"evaluation {eval_key!r} scored {config.pred_field!r} against {config.gt_field!r}, "
            f"not {gt_field!r}"
        )
    return str(config.pred_field)


def _objects(
    collection: Any, gt_field: str, pred_field: str | None, eval_key: str | None
) -> Iterator[_Object]:
    source = collection._source_collection if collection._is_patches else collection
    if collection._is_patches:
        source = source.select(collection.distinct("sample_id"))
    paths = [(gt_field, "ground_truth", "fn")]
    if pred_field is not None:
        paths.append((pred_field, "prediction", "fp"))
    for field_name, kind, disputed in paths:
        ids, boxes = source.values(["id", f"{field_name}.detections"])
        for sample_id, detections in zip(ids, boxes, strict=True):
            for det in detections or ():
                outcome = det[eval_key] if eval_key and det.has_field(eval_key) else None
                if eval_key is not None and outcome != disputed:
                    continue
                yield _Object(
                    sample_id, det.id, tuple(det.bounding_box), det.label or "", kind, outcome
                )


def _ask(
    objects: list[_Object],
    dataset: Any,
    task: TaskSpec,
    settings: RunSettings,
    margin: float,
    min_side: int,
) -> tuple[dict[str, ItemOutcome], float]:
    """Gemini's answer about each object's crop, by the object's key; and what they cost."""
    settings = dataclasses.replace(settings, crop_margin=margin, crop_min_side=min_side)
    wanted = [(o.key, o.sample_id, o.box) for o in objects]
    outcomes, _, report = ask_about_crops(dataset, wanted, task, settings)
    return outcomes, report.cost_usd


def _verdict(obj: _Object, said: str | None) -> str:
    if said is None:
        return "not_asked"
    there = said != NOTHING
    if obj.eval_outcome == "fp":
        return "missing_ground_truth" if said == obj.label else "false_alarm"
    if obj.eval_outcome == "fn":
        return "real_miss" if said == obj.label else "doubtful_ground_truth"
    if not there:
        return "no_object"
    return "correct" if said == obj.label else "wrong_label"


def _write(
    dataset: Any,
    objects: list[_Object],
    outcomes: dict[str, ItemOutcome],
    label_field: str,
    gt_field: str,
    tag: str | None,
) -> list[str]:
    """Writes the mirrored detections; returns each object's verdict, in order."""
    per_sample: dict[str, list[fo.Detection]] = defaultdict(list)
    verdicts = []
    for obj in objects:
        outcome = outcomes.get(obj.key)
        answer = None
        if outcome is not None and outcome.status == "ok":
            answer = to_label(TaskKind.CLASSIFY, outcome.answer, (0, 0))
        said = answer.label if answer is not None else None
        verdict = _verdict(obj, said)
        verdicts.append(verdict)
        confidence = float(answer.confidence) if answer is not None and answer.confidence else None
        reason = _reason(obj, said, confidence, outcome)
        per_sample[obj.sample_id].append(
            fo.Detection(
                label=said or obj.label,
                bounding_box=list(obj.box),
                confidence=confidence,
                original_label=obj.label,
                agrees=said == obj.label,
                verdict=verdict,
                reason=reason,
                source=obj.source,
                source_id=obj.label_id,
                tags=[tag] if tag and verdict in SUSPECT_VERDICTS else [],
            )
        )
    if not dataset.has_field(label_field):
        dataset.add_sample_field(
            label_field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
        )
    dataset.set_values(
        label_field,
        {sid: fo.Detections(detections=dets) for sid, dets in per_sample.items()},
        key_field="id",
    )
    if tag:
        suspects = [
            o.label_id
            for o, v in zip(objects, verdicts, strict=True)
            if v in SUSPECT_VERDICTS and o.source == "ground_truth"
        ]
        if suspects:
            dataset.select_labels(ids=suspects, fields=gt_field).tag_labels(
                tag, label_fields=gt_field
            )
    return verdicts


def _reason(
    obj: _Object, said: str | None, confidence: float | None, outcome: ItemOutcome | None
) -> str:
    sure = f" ({confidence:.0%} sure)" if confidence is not None else ""
    if said is None:
        why = outcome.error if outcome is not None else "not asked"
        return f"no answer: {why}"
    what = "no object of the vocabulary" if said == NOTHING else f"a {said}"
    noun = "the prediction" if obj.source == "prediction" else "the ground truth"
    return f"Gemini sees {what}{sure} where {noun} says {obj.label}"


def _save_suspects(dataset: Any, label_field: str) -> str:
    """Saves the view of samples with suspects, the most confident suspicion first."""
    suspects = dataset.filter_labels(
        label_field, F("verdict").is_in(list(SUSPECT_VERDICTS))
    ).sort_by(F(f"{label_field}.detections").map(F("confidence")).max(), reverse=True)
    dataset.save_view(SUSPECTS_VIEW, suspects, overwrite=True)
    return SUSPECTS_VIEW


def _summary(
    label_field: str,
    objects: list[_Object],
    verdicts: list[str],
    outcomes: dict[str, ItemOutcome],
    view_name: str,
) -> AuditSummary:
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    for obj, verdict in zip(objects, verdicts, strict=True):
        per_class[obj.label][verdict] += 1
    totals = Counter(verdicts)
    failed = [o.error or "" for o in outcomes.values() if o.status != "ok"]
    return AuditSummary(
        label_field=label_field,
        objects=len(objects),
        verdicts=dict(totals),
        per_class={name: dict(counts) for name, counts in per_class.items()},
        suspects=sum(totals[v] for v in SUSPECT_VERDICTS),
        view_name=view_name,
        failed=totals.get("not_asked", 0),
        cost_usd=0.0,
        failures=sorted(set(failed))[:5],
    )
