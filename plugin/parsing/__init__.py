"""Model text -> typed results, or :class:`~gemini_vision.errors.ParseError` with the raw text.

The parser is total: any string in, a typed result or a typed error out, never a crash.

::

    results      the typed results: ParseResult, ParsedObject, Box, Point, MaskData
    spatial      boxes and points: parse_detections, parse_points, dedupe
    items        JSON items -> ParsedObject (boxes, points, labels, confidences, masks)
    masks        the "mask" value of one item, in every form Gemini has used
    text         classifications and free text
    numbers      finite numbers and confidences in the forms models write them
    labelmap     raw model labels -> the classes a user asked for
    json_scan    lenient JSON in model text: find it, repair it, salvage truncation
    json_reader  the forgiving recursive-descent JSON reader json_scan uses

Nothing here imports FiftyOne.
"""

from gemini_vision.parsing.json_scan import (
    MAX_ANSWER_CHARS,
    MAX_TEXT_ANSWER_CHARS,
    extract_json,
)
from gemini_vision.parsing.labelmap import LabelMapper, LabelMatch, clean_label
from gemini_vision.parsing.results import (
    PARSER_VERSION,
    Box,
    DroppedItem,
    MaskData,
    ParsedObject,
    ParseResult,
    Point,
)
from gemini_vision.parsing.spatial import dedupe, parse_detections, parse_points
from gemini_vision.parsing.text import (
    ClassificationResult,
    ClassPrediction,
    TextAnswer,
    parse_classification,
    parse_free_text,
)

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_TEXT_ANSWER_CHARS",
    "PARSER_VERSION",
    "Box",
    "ClassPrediction",
    "ClassificationResult",
    "DroppedItem",
    "LabelMapper",
    "LabelMatch",
    "MaskData",
    "ParseResult",
    "ParsedObject",
    "Point",
    "TextAnswer",
    "clean_label",
    "dedupe",
    "extract_json",
    "parse_classification",
    "parse_detections",
    "parse_free_text",
    "parse_points",
]
