"""The FiftyOne side: the only modules that import ``fiftyone``, ``pymongo`` or ``bson``.

::

    runner        run_task: check the outputs, label online or in batches, record, evaluate
    summary       RunSummary, and the words and colour the App shows for a run
    ask           one question about several images (ask_about_samples)
    audit         Gemini looks at every ground-truth object again: suspected label errors
    compare       one task, 2-4 variants (models, prompts, sizes), one comparison table
    objects       tasks on patches and frames views, written on the source samples
    labels        parsed answers -> FiftyOne labels in the displayed frame -> the dataset
    fields        which samples need work, which fields may be written, a field's vocabulary
    runs          a run record per field the plugin writes (provenance, "did we create it?")
    history       a dataset's runs read back: history, spending, review views, deleting a run
    evaluation    FiftyOne's evaluation with sensible defaults, for the Model Evaluation panel
    preview       cost previews before a run
    model         GeminiModel: Gemini as a FiftyOne model, for apply_model
    mongo         the engine's durable stores in FiftyOne's database (cache, uploads, batches)
    claims        leased claims on samples, so several workers share one job
    work_source   work items streamed page by page from a collection, claimed per worker
    synthetic     datasets of synthetic scenes with exact ground truth
    demo          the demo's FiftyOne half (python -m gemini_vision.demo)

This face is what the operators use.
"""

from gemini_vision.adapters.ask import ask_about_samples
from gemini_vision.adapters.audit import AuditSummary, audit_ground_truth
from gemini_vision.adapters.compare import Comparison, Variant, compare_models
from gemini_vision.adapters.evaluation import (
    EVALUABLE_TYPES,
    check_eval_key,
    check_evaluation,
    evaluate,
    ground_truth_types,
    summary_markdown,
)
from gemini_vision.adapters.fields import (
    OUTPUT_TYPES,
    check_collection,
    check_output_field,
    check_semantic_field,
    classes_from_field,
    samples_to_process,
)
from gemini_vision.adapters.labels import LabelWriter, to_label
from gemini_vision.adapters.model import GeminiModel
from gemini_vision.adapters.mongo import cache_ttl_days, cached_answers, clear_cached_answers
from gemini_vision.adapters.preview import CostPreview, preview_cost
from gemini_vision.adapters.runner import check_run, run_task
from gemini_vision.adapters.runs import plugin_fields
from gemini_vision.adapters.summary import (
    RunSummary,
    describe_summary,
    run_markdown,
    summary_variant,
)
from gemini_vision.api import list_models
from gemini_vision.engine import check_access
from gemini_vision.settings import RunSettings, has_api_key

__all__ = [
    "EVALUABLE_TYPES",
    "OUTPUT_TYPES",
    "AuditSummary",
    "Comparison",
    "CostPreview",
    "GeminiModel",
    "LabelWriter",
    "RunSettings",
    "RunSummary",
    "Variant",
    "ask_about_samples",
    "audit_ground_truth",
    "cache_ttl_days",
    "cached_answers",
    "check_access",
    "check_collection",
    "check_eval_key",
    "check_evaluation",
    "check_output_field",
    "check_run",
    "check_semantic_field",
    "classes_from_field",
    "clear_cached_answers",
    "compare_models",
    "describe_summary",
    "evaluate",
    "ground_truth_types",
    "has_api_key",
    "list_models",
    "plugin_fields",
    "preview_cost",
    "run_markdown",
    "run_task",
    "samples_to_process",
    "summary_markdown",
    "summary_variant",
    "to_label",
]
