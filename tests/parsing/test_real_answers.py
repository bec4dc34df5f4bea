"""Every one of the 60 real Gemini answers in tests/data/real-gemini parses to the right outcome.

The expectations below were read off the raw texts (counts of items, the first box or point,
the first label), not from the parser's output. Provenance and quirks:
tests/data/real-gemini/NOTES.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import support

from gemini_vision.errors import ParseError
from gemini_vision.parsing import parse_detections, parse_free_text, parse_points
from gemini_vision.parsing.json_scan import extract_json
from gemini_vision.tasks.spec import TaskKind, TaskSpec, interpret_answer

DATA = support.DATA / "real-gemini"
SAMPLES = {
    row["id"]: row
    for row in (
        json.loads(line) for line in (DATA / "responses.jsonl").read_text("utf-8").splitlines()
    )
}


@dataclass(frozen=True)
class Expect:
    """``outcome``: boxes | points | text | error. ``first`` is the first box or point."""

    outcome: str
    count: int = 0
    first: tuple[float, ...] | None = None
    label: str | None = None
    #: mask kind of every object (None: no mask key at all)
    masks: str | None = None


EXPECTED: dict[str, Expect] = {
    # the Gemini cookbook's "Spatial understanding" notebook (Python): detection, Gemini 2.0 /
    # 2.5 Pro / 2.5 Flash / 3 Flash
    "cookbook_spatial_g20_cupcakes": Expect("boxes", 13, (384, 65, 562, 203), "red sprinkles"),
    "cookbook_spatial_g20_socks": Expect("boxes", 2, (53, 248, 388, 527), "sock with face"),
    "cookbook_spatial_g20_spill_prose": Expect("boxes", 4, (447, 0, 1000, 418), "pink cloth"),
    "cookbook_spatial_g25pro_cupcakes": Expect("boxes", 13, (393, 65, 560, 206), "red sprinkles"),
    "cookbook_spatial_g25pro_socks": Expect(
        "boxes", 2, (57, 247, 385, 527), "light blue sock with face on left"
    ),
    "cookbook_spatial_g25pro_spill": Expect(
        "boxes", 2, (434, 598, 665, 871), "Wipe up this liquid spill."
    ),
    "cookbook_spatial_g25pro_masks": Expect(
        "boxes", 20, (265, 702, 433, 812), "metal shaker", masks="png"
    ),
    "cookbook_spatial_g25flash_cupcakes": Expect(
        "boxes", 15, (390, 64, 574, 203), "red sprinkles"
    ),
    "cookbook_spatial_g25flash_socks": Expect(
        "boxes", 2, (46, 246, 385, 526), "light blue sock with cat face on left"
    ),
    "cookbook_spatial_g25flash_spill": Expect(
        "boxes",
        6,
        (447, 0, 992, 420),
        "Use this cloth to absorb the spilled liquid by gently dabbing or wiping the area.",
    ),
    "cookbook_spatial_g25flash_masks": Expect(
        "boxes", 15, (168, 97, 360, 228), "glass jar with sprinkles", masks="png"
    ),
    "cookbook_spatial_g3flash_cupcakes_nofence": Expect(
        "boxes", 13, (393, 67, 574, 206), "red sprinkle topping"
    ),
    "cookbook_spatial_g3flash_segment_request_boxes_only": Expect(
        "boxes", 13, (395, 66, 574, 206), "chocolate cupcake with red sprinkles"
    ),
    "roboflow_g25flash_dogs_tail": Expect("boxes", 1, (599, 339, 725, 395), "dogs tail"),
    "roboflow_g25flash_masks_pepper_salt": Expect(
        "boxes", 2, (662, 248, 786, 365), "peper", masks="png"
    ),
    "yyoonchul_robotics_er15_points": Expect("points", 7, (550, 260), "orange storage bin"),
    "yyoonchul_robotics_er15_boxes_fenced_despite_prompt": Expect(
        "boxes", 6, (300, 88, 885, 439), "orange container"
    ),
    "yyoonchul_robotics_er15_trajectory": Expect("points", 12, (480, 650), "start"),
    "immuhammadadil_g25flash_caption_jets": Expect("text"),
    "cookbook_openai_compat_g20flash_bento_description": Expect("text"),
    "cookbook_openai_compat_g25flash0417_bento_description": Expect("text"),
    # the cookbook's TypeScript spatial-understanding example (full-size images sent)
    "ts_cookbook_g25flash_cupcakes": Expect(
        "boxes", 13, (389, 64, 570, 201), "Dark chocolate cupcake with red and pink sprinkles"
    ),
    "ts_cookbook_g25flash_socks_nofence": Expect(
        "boxes", 2, (240, 650, 649, 860), "socks with the face"
    ),
    "ts_cookbook_g25flash_bento_japanese_labels": Expect(
        "boxes", 9, (63, 56, 237, 259), "抹茶のスイスロール (Matcha Swiss Roll)"
    ),
    "ts_cookbook_g25flash_fox_shadow": Expect("boxes", 1, (435, 256, 608, 411), "fox' shadow"),
    "ts_cookbook_g25flash_spill_explanations": Expect(
        "boxes",
        8,
        (447, 0, 1000, 417),
        "cleaning cloth: Use this cloth to gently blot and wipe the spilled liquid from the "
        "table surface.",
    ),
    "ts_cookbook_g25flash_masks": Expect(
        "boxes", 16, (156, 395, 362, 579), "metal pot", masks="png"
    ),
    # Vertex AI Studio lab: an OCR prompt answered with boxes, and captions
    "vertex_studio_lab_v1_read_text_returns_boxes": Expect(
        "boxes", 23, (156, 529, 210, 860), "BUCHAREST/OTP"
    ),
    "vertex_studio_lab_v1_title_caption": Expect("text"),
    "vertex_studio_lab_v1_describe_caption": Expect("text"),
    "vertex_studio_lab_v2_read_text_returns_boxes": Expect(
        "boxes", 24, (16, 360, 57, 458), "10:50"
    ),
    "vertex_studio_lab_v2_describe_caption": Expect("text"),
    "js_sdk_g20flashexp_fish_fenced_despite_prompt": Expect(
        "boxes", 5, (478, 625, 703, 817), "Amphiprion clarkii"
    ),
    "readme_photo_understanding_run1": Expect(
        "boxes",
        5,
        (204, 156, 467, 348),
        "a man with a grey sweater and black shirt is sitting at a table",
    ),
    "readme_photo_understanding_run2": Expect(
        "boxes",
        5,
        (179, 597, 1000, 1000),
        "a man sitting at a table playing cards with four other people. He is holding cards in "
        "his left hand.",
    ),
    # Gemini 1.5: a markdown bullet list of bare arrays, no labels
    "simonw_g15pro_goats_bare_arrays": Expect("boxes", 2, (200, 90, 745, 527), ""),
    "ocr_log_box2d_text_content_vi": Expect("boxes", 28, (18, 103, 39, 220), "07:32"),
    "aistudio_export_g20flash_imagegen_unsolicited_points": Expect(
        "points", 6, (449, 652), "spiraling curls"
    ),
    "refspatial_readme_gemini_point_example": Expect("points", 1, (438, 330), "free space"),
    "docs_robotics_er_point_10_items": Expect("points", 10, (376, 508), "small banana"),
    "docs_robotics_er_point_queries": Expect("points", 7, (671, 317), "bread"),
    "docs_robotics_er_trajectory_points": Expect("points", 16, (550, 610), "0"),
    "docs_robotics_er_agentic_boxes_y_x_keys": Expect(
        "boxes", 5, (256, 482, 295, 546), "compostable"
    ),
    "docs_robotics_er_point_label_is_prompt": Expect(
        "points", 1, (672, 301), "The object that I need to remove to make room for my laptop"
    ),
    "docs_robotics_er_point_block_bowl": Expect("points", 2, (389, 252), "orange bowl"),
    "docs_robotics_er_lunch_prose_with_inline_points": Expect("points", 9, (899, 440), "apple"),
    # {"hours": 12, "minutes": 44}: JSON, but no boxes; as free text it is kept verbatim
    "docs_robotics_er_clock_json_odd_indent": Expect("text"),
    "agy_cli_g36flashlow_textbook_page_boxes": Expect("boxes", 6, (116, 91, 335, 936), "a"),
    "agy_cli_default_model_textbook_page_boxes": Expect("boxes", 6, (118, 88, 155, 846), "a"),
    "agy_cli_g31prohigh_textbook_page_boxes": Expect("boxes", 6, (115, 80, 162, 880), "a"),
    "pasted_response_face_prefix_unclosed_fence": Expect("boxes", 1, (237, 428, 731, 701), "face"),
    "nextjs_const_cupcakes_boxes": Expect("boxes", 14, (400, 68, 546, 202), "red sprinkles"),
    "pasted_masks_chinese_labels_masks_elided": Expect(
        "boxes", 5, (120, 289, 193, 496), "显微镜", masks="invalid"
    ),
    "pasted_mask_door_pretty_printed": Expect(
        "boxes", 1, (238, 107, 770, 922), "the door excluding the doorframe", masks="png"
    ),
    "pasted_mask_fire_extinguisher_pretty_printed": Expect(
        "boxes", 1, (380, 368, 499, 520), "clock of fire extinguisher", masks="png"
    ),
    # fragments: a mask value with no object around it -> nothing usable
    "issue_cookbook798_seg_tokens_fragment": Expect("error"),
    "issue_cookbook798_forced_png_degenerate_repeat_fragment": Expect("error"),
    "forum_g25_mask_seg_tokens_fragment": Expect("error"),
    # a polygon without a box: the box is the polygon's bounds ([y, x] by default)
    "forum_g35_mask_polygon_fragment": Expect(
        "boxes", 1, (325, 411, 408, 534), "", masks="polygon"
    ),
    "issue_agent_s91_bare_yx_point": Expect("points", 1, (472, 592), ""),
}


def test_every_sample_has_an_expectation() -> None:
    assert len(SAMPLES) == 60
    assert set(EXPECTED) == set(SAMPLES)


def _parse(sample_id: str) -> object:
    raw = SAMPLES[sample_id]["raw_text"]
    outcome = EXPECTED[sample_id].outcome
    if outcome == "points":
        return parse_points(raw)
    if outcome == "text":
        return parse_free_text(raw)
    return parse_detections(raw)


@pytest.mark.parametrize("sample_id", sorted(EXPECTED))
def test_real_sample_parses_to_expected_outcome(sample_id: str) -> None:
    expect = EXPECTED[sample_id]
    raw = SAMPLES[sample_id]["raw_text"]
    if expect.outcome == "error":
        with pytest.raises(ParseError) as info:
            parse_detections(raw)
        assert info.value.raw_text == raw
        return
    result = _parse(sample_id)
    assert result.raw_text == raw  # type: ignore[attr-defined]
    if expect.outcome == "text":
        assert result.text.strip()  # type: ignore[attr-defined]
        return
    objects = result.objects  # type: ignore[attr-defined]
    assert len(objects) == expect.count
    first = objects[0].box_2d if expect.outcome == "boxes" else objects[0].point
    assert first == pytest.approx(expect.first)
    assert objects[0].label == expect.label
    for obj in objects:
        if expect.outcome == "boxes":
            ymin, xmin, ymax, xmax = obj.box_2d
            assert 0 <= ymin < ymax <= 1000 and 0 <= xmin < xmax <= 1000
        kind = obj.mask.kind if obj.mask is not None else None
        assert kind == expect.masks
    assert not result.dropped  # type: ignore[attr-defined]
    assert not result.truncated  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Per-sample details


def test_png_masks_are_256_square_pngs() -> None:
    for sample_id in (
        "cookbook_spatial_g25pro_masks",
        "cookbook_spatial_g25flash_masks",
        "ts_cookbook_g25flash_masks",
        "roboflow_g25flash_masks_pepper_salt",
        "pasted_mask_door_pretty_printed",
        "pasted_mask_fire_extinguisher_pretty_printed",
    ):
        result = parse_detections(SAMPLES[sample_id]["raw_text"])
        for obj in result.objects:
            assert obj.mask is not None and obj.mask.png is not None
            assert obj.mask.png.startswith(b"\x89PNG\r\n\x1a\n")
            assert obj.mask.png_size == (256, 256)


def test_duplicate_boxes_are_kept_and_reported() -> None:
    # 2.5 Flash gave [272, 296, 376, 396] and [260, 699, 431, 810] twice each (jar and lid)
    result = parse_detections(SAMPLES["cookbook_spatial_g25flash_masks"]["raw_text"])
    assert len(result.objects) == 15
    assert len(result.duplicates) == 2
    for first, later in result.duplicates:
        assert result.objects[first].box_2d == result.objects[later].box_2d
    labels = {result.objects[i].label for pair in result.duplicates for i in pair}
    assert {"glass body of red jar", "metal lid of red jar"} <= labels


def test_elided_masks_keep_objects_and_unicode_labels() -> None:
    result = parse_detections(SAMPLES["pasted_masks_chinese_labels_masks_elided"]["raw_text"])
    assert result.labels == ["显微镜", "实验装置示意图", "半透半反镜", "牛顿环装置", "钠灯"]
    for obj in result.objects:
        assert obj.mask is not None and obj.mask.kind == "invalid"
        assert "elided" in (obj.mask.reason or "")
    assert any("mask" in w for w in result.warnings)


def test_segment_request_answered_with_boxes_only_has_no_masks() -> None:
    task = TaskSpec(TaskKind.SEGMENT, target="the cupcakes")
    raw = SAMPLES["cookbook_spatial_g3flash_segment_request_boxes_only"]["raw_text"]
    result = interpret_answer(task, raw)
    assert len(result.objects) == 13  # type: ignore[union-attr]
    assert any("without a mask" in w for w in result.warnings)  # type: ignore[union-attr]


def test_ocr_labels_lose_trailing_newlines_but_keep_raw() -> None:
    result = parse_detections(SAMPLES["ocr_log_box2d_text_content_vi"]["raw_text"])
    assert all(not o.label.endswith("\n") for o in result.objects)
    by_label = {o.label: o for o in result.objects}
    assert "Danh\nmục" in by_label and by_label["Danh\nmục"].raw_label == "Danh\nmục\n"
    assert "Cài đặt" in by_label
    assert [o.label for o in result.objects].count("日") == 2


def test_goats_bare_arrays_take_the_default_label() -> None:
    raw = SAMPLES["simonw_g15pro_goats_bare_arrays"]["raw_text"]
    result = parse_detections(raw, default_label="goat")
    assert [o.box_2d for o in result.objects] == [(200, 90, 745, 527), (300, 610, 904, 937)]
    assert result.labels == ["goat", "goat"]
    assert all(o.raw_label is None for o in result.objects)


def test_lunch_points_from_bullets_after_prose() -> None:
    result = parse_points(SAMPLES["docs_robotics_er_lunch_prose_with_inline_points"]["raw_text"])
    assert result.labels == [
        "apple",
        "banana",
        "red grapes",
        "green grapes",
        "blue lunch box",
        "blue spoon",
        "blue snack bar",
        "brown snack bar",
        "brown lunch bag",
    ]
    assert result.objects[-1].point == (448, 501)


def test_agentic_boxes_read_from_y_x_y2_x2_keys() -> None:
    result = parse_detections(SAMPLES["docs_robotics_er_agentic_boxes_y_x_keys"]["raw_text"])
    assert result.objects[-1].box_2d == (178, 565, 250, 609)
    assert result.objects[0].attributes == {}


def test_polygon_fragment_reads_y_x_by_default() -> None:
    result = parse_detections(SAMPLES["forum_g35_mask_polygon_fragment"]["raw_text"])
    mask = result.objects[0].mask
    assert mask is not None and mask.polygon_yx is not None
    assert mask.polygon_order == "yx"
    assert mask.polygon_yx[0] == (325, 411) and len(mask.polygon_yx) == 6
    assert any("polygon" in w for w in result.warnings)


def test_seg_token_fragments_explain_themselves() -> None:
    for sample_id in (
        "issue_cookbook798_seg_tokens_fragment",
        "forum_g25_mask_seg_tokens_fragment",
    ):
        with pytest.raises(ParseError, match="seg"):
            parse_detections(SAMPLES[sample_id]["raw_text"])


def test_degenerate_png_fragment_is_a_parse_error_naming_the_mask() -> None:
    raw = SAMPLES["issue_cookbook798_forced_png_degenerate_repeat_fragment"]["raw_text"]
    with pytest.raises(ParseError, match="PNG mask fragment"):
        parse_detections(raw)


def test_clock_json_is_json_but_not_boxes() -> None:
    raw = SAMPLES["docs_robotics_er_clock_json_odd_indent"]["raw_text"]
    assert extract_json(raw).value == {"hours": 12, "minutes": 44}
    with pytest.raises(ParseError, match="no usable boxes"):
        parse_detections(raw)


def test_bare_yx_point_is_a_point_not_a_box() -> None:
    raw = SAMPLES["issue_agent_s91_bare_yx_point"]["raw_text"]
    assert parse_points(raw).objects[0].point == (472, 592)
    with pytest.raises(ParseError, match="2 values"):
        parse_detections(raw)


@pytest.mark.parametrize(
    ("sample_id", "starts", "contains"),
    [
        ("vertex_studio_lab_v1_title_caption", "Airport departure board.", ""),
        ("vertex_studio_lab_v1_describe_caption", "The image shows a close-up", "MANCHESTER"),
        ("vertex_studio_lab_v2_describe_caption", "The image shows a departure board", "Kiev"),
        ("immuhammadadil_g25flash_caption_jets", "**Descriptive:**", "F-22 Raptor"),
        ("cookbook_openai_compat_g20flash_bento_description", "**Top Row", "抹茶のスイスロール"),
        ("cookbook_openai_compat_g25flash0417_bento_description", "Row 1", "海苔巻き煎餅"),
        ("docs_robotics_er_clock_json_odd_indent", '{\n  "hours": 12', '"minutes": 44'),
    ],
)
def test_captions_keep_content_and_drop_preambles(
    sample_id: str, starts: str, contains: str
) -> None:
    text = parse_free_text(SAMPLES[sample_id]["raw_text"]).text
    assert text.startswith(starts)
    assert contains in text
    assert not text.lower().startswith("here")


_TASK_OF = {
    "detect": TaskSpec(TaskKind.DETECT),
    "segment": TaskSpec(TaskKind.SEGMENT),
    "point": TaskSpec(TaskKind.POINT),
    "caption": TaskSpec(TaskKind.CAPTION),
    "other": TaskSpec(TaskKind.ASK, question="What time is it?"),
}


@pytest.mark.parametrize("sample_id", sorted(SAMPLES))
def test_interpret_answer_by_recorded_task(sample_id: str) -> None:
    """Through the task layer, with the task each sample was recorded for."""
    sample = SAMPLES[sample_id]
    task = _TASK_OF[sample["task"]]
    expect = EXPECTED[sample_id]
    if expect.outcome == "error":
        with pytest.raises(ParseError):
            interpret_answer(task, sample["raw_text"])
        return
    answer = interpret_answer(task, sample["raw_text"])
    if task.kind.spatial:
        assert len(answer.objects) == expect.count  # type: ignore[union-attr]
        assert all(o.label_match is not None for o in answer.objects)  # type: ignore[union-attr]
    else:
        assert answer.text  # type: ignore[union-attr]


def test_outcome_totals() -> None:
    outcomes = [EXPECTED[s].outcome for s in SAMPLES]
    assert outcomes.count("boxes") == 39  # 30 detection + 9 of the 12 segmentation answers
    assert outcomes.count("points") == 11
    assert outcomes.count("text") == 7
    assert outcomes.count("error") == 3
