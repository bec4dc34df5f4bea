"""Property: whatever wrong input reaches an operator - a wrong type, a value out of range, an
unknown name, a required input missing - FiftyOne refuses the call with our one-line reason,
nothing else is raised, and no request that carries data is sent."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import sent_requests
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

foo = pytest.importorskip("fiftyone.operators")

from gemini_vision.adapters.synthetic import GT_CLASSIFICATION, GT_DETECTIONS  # noqa: E402

PLUGIN = "@gemini-vision/gemini"

# what each parameter must be: ("text",), ("names",), ("flag",), ("choice", values),
# ("int", minimum, maximum), ("float", minimum, maximum)
TARGETS = ("DATASET", "CURRENT_VIEW", "SELECTED_SAMPLES")
TASK = {
    "target": ("choice", TARGETS),
    "model": ("text",),
    "prompt": ("text",),
    "label_field": ("text",),
    "overwrite": ("flag",),
    "gt_field": ("text",),
    "eval_key": ("text",),
    "max_image_side": ("int", 16, None),
    "mode": ("choice", ("online", "batch")),
    "concurrency": ("int", 1, 256),
    "tier": ("choice", ("free", "tier1", "tier2", "tier3")),
    "requests_per_minute": ("float", 0.01, None),
    "tokens_per_minute": ("float", 1, None),
}
SPATIAL = {
    "classes": ("names",),
    "classes_field": ("text",),
    "max_objects": ("int", 1, 1000),
    "with_confidence": ("flag",),
}
OPERATORS: dict[str, tuple[dict[str, Any], dict[str, tuple[Any, ...]], tuple[str, ...]]] = {
    # name: (valid parameters, what each parameter must be, parameters that are required)
    "detect_objects": ({"classes": ["circle"]}, TASK | SPATIAL, ()),
    "segment_objects": (
        {"classes": ["circle"]},
        TASK | SPATIAL | {"semantic_field": ("text",)},
        (),
    ),
    "point_objects": ({}, TASK | SPATIAL, ()),
    "classify_images": (
        {"classes_field": GT_CLASSIFICATION},
        TASK | {"classes": ("names",), "classes_field": ("text",), "multi_label": ("flag",)},
        ("classes_field",),
    ),
    "caption_images": ({}, TASK | {"detail": ("choice", ("short", "detailed"))}, ()),
    "ask_images": ({"prompt": "How many shapes?"}, TASK | {"question": ("text",)}, ("prompt",)),
    "ask_about_selection": (
        {"prompt": "What differs?"},
        {k: TASK[k] for k in ("target", "model", "prompt", "max_image_side")}
        | {"question": ("text",)},
        (),
    ),
    "evaluate_against_ground_truth": (
        {"pred_field": GT_DETECTIONS, "gt_field": GT_DETECTIONS},
        {
            "target": ("choice", TARGETS),
            "pred_field": ("text",),
            "label_field": ("text",),
            "gt_field": ("text",),
            "eval_key": ("text",),
            "use_masks": ("flag",),
            "iou": ("float", 0.05, 0.95),
            "classwise": ("flag",),
        },
        ("pred_field",),
    ),
    "clear_cached_answers": ({}, {"scope": ("choice", ("dataset", "all"))}, ()),
}

json_scalars = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def wrong_value(kind: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """Values that ``kind`` never accepts."""
    name = kind[0]
    if name == "text":
        return json_values.filter(lambda v: not isinstance(v, str))
    if name == "names":
        return json_values.filter(
            lambda v: (
                not isinstance(v, str)
                and not (isinstance(v, list) and all(isinstance(x, str) for x in v))
            )
        )
    if name == "flag":
        return json_values.filter(lambda v: v is not None and not isinstance(v, bool))
    if name == "choice":
        return json_values.filter(
            lambda v: v is not None
            and not (isinstance(v, str) and (not v.strip() or v.strip().lower() in
                     {c.lower() for c in kind[1]}))
        )  # fmt: skip
    return json_values.filter(lambda v: v is not None and not _is_number_text(v))


def _is_number_text(value: Any) -> bool:
    if isinstance(value, bool | list | dict):
        return False
    if isinstance(value, str) and not value.strip():
        return True  # blank counts as missing
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def out_of_range(kind: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    _, minimum, maximum = kind
    below = st.floats(max_value=minimum, exclude_max=True, allow_nan=False, min_value=-1e9)
    options = [below.filter(lambda v: v != 0)]  # 0 means "full size" for max_image_side
    if maximum is not None:
        options.append(st.floats(min_value=maximum, exclude_min=True, max_value=1e9))
    if kind[0] == "int":
        options.append(st.floats(min_value=max(minimum, 1) + 0.1, max_value=2e3).filter(
            lambda v: not v.is_integer()))  # fmt: skip
    return st.one_of(options)


@st.composite
def bad_call(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(operator, parameters, what is wrong) with exactly one thing wrong."""
    name = draw(st.sampled_from(sorted(OPERATORS)))
    valid, kinds, required = OPERATORS[name]
    params = dict(valid)
    mutations = ["type", "unknown"]
    numeric = [p for p, k in kinds.items() if k[0] in ("int", "float")]
    if numeric:
        mutations.append("range")
    if required:
        mutations.append("missing")
    mutation = draw(st.sampled_from(mutations))
    if mutation == "type":
        param = draw(st.sampled_from(sorted(kinds)))
        params[param] = draw(wrong_value(kinds[param]))
    elif mutation == "range":
        param = draw(st.sampled_from(numeric))
        params[param] = draw(out_of_range(kinds[param]))
    elif mutation == "unknown":
        param = draw(
            st.from_regex(r"[a-z_]{1,20}", fullmatch=True).filter(lambda n: n not in kinds)
        )
        params[param] = draw(json_values)
    else:
        param = draw(st.sampled_from(required))
        del params[param]
    return name, params, f"{mutation}:{param}"


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(2, seed=41)


@settings(
    # more with GEMINI_VISION_PROPERTY_EXAMPLES=1000 (each example runs an operator's form)
    max_examples=int(os.environ.get("GEMINI_VISION_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=bad_call())
def test_any_wrong_input_is_refused_in_one_sentence_and_nothing_is_sent(
    dataset: Any, plugin_env: Any, call: tuple[str, dict[str, Any], str]
) -> None:
    name, params, wrong = call
    before = sent_requests(plugin_env)
    with pytest.raises(foo.executor.ExecutionError) as caught:
        foo.execute_operator(f"{PLUGIN}/{name}", ctx={"dataset": dataset, "params": params})
    message = str(caught.value)
    assert message.startswith("Validation error") and "Reason: " in message, (wrong, message)
    reason = message.split("Reason: ", 1)[1]
    assert reason and "\n" not in message and "Traceback" not in message, (wrong, message)
    assert sent_requests(plugin_env) == before, wrong
