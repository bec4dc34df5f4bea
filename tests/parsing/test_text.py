"""Classification and free-text answers, case by case (a name per row)."""

from __future__ import annotations

import pytest

from gemini_vision.errors import ParseError
from gemini_vision.parsing import (
    parse_classification,
    parse_free_text,
)

# --------------------------------------------------------------------------------------------
# Classification

PETS = ["cat", "dog", "couch", "salt and pepper"]


@pytest.mark.parametrize(
    ("text", "multi", "labels", "method"),
    [
        pytest.param("dog", False, ["dog"], "exact", id="enum-plain"),
        pytest.param("dog\n", False, ["dog"], "exact", id="enum-newline"),
        pytest.param('"Dog"', False, ["dog"], "case", id="quoted"),
        pytest.param("Dogs.", False, ["dog"], "plural", id="plural-with-period"),
        pytest.param("Answer: cat", False, ["cat"], "exact", id="answer-prefix"),
        pytest.param("**Label:** cat", False, ["cat"], "exact", id="bold-prefix"),
        pytest.param('{"label": "cat"}', False, ["cat"], "exact", id="json-object"),
        pytest.param('```json\n{"class": "cat"}\n```', False, ["cat"], "exact", id="fenced-json"),
        pytest.param('["dog"]', False, ["dog"], "exact", id="json-list-single"),
        pytest.param('{"cat": 0.2, "dog": 0.7}', False, ["dog"], "exact", id="scores-dict"),
        pytest.param("sofa", False, ["couch"], "synonym", id="synonym"),
        pytest.param("The image shows a dog on a rug.", False, ["dog"], "contains", id="sentence"),
        pytest.param('["cat", "dog"]', True, ["cat", "dog"], "exact", id="multi-json"),
        pytest.param("cat, dog", True, ["cat", "dog"], "exact", id="multi-commas"),
        pytest.param("- cat\n- dog", True, ["cat", "dog"], "exact", id="multi-bullets"),
        pytest.param("cat and dog", True, ["cat", "dog"], "exact", id="multi-and"),
        pytest.param('["cat", "cat"]', True, ["cat"], "exact", id="multi-duplicates"),
        pytest.param(
            "salt and pepper, dog", True, ["salt and pepper", "dog"], "exact", id="and-in-a-class"
        ),
        pytest.param(
            '[{"label": "cat", "confidence": 0.9}, {"label": "dog", "confidence": 0.4}]',
            True,
            ["cat", "dog"],
            "exact",
            id="multi-with-confidence",
        ),
    ],
)
def test_classification_answers(text: str, multi: bool, labels: list[str], method: str) -> None:
    result = parse_classification(text, PETS, multi_label=multi)
    assert result.labels == labels
    assert result.predictions[0].method == method
    assert result.raw_text == text


def test_classification_keeps_confidence() -> None:
    result = parse_classification('{"label": "dog", "confidence": 87}', PETS, multi_label=False)
    assert result.top is not None and result.top.confidence == pytest.approx(0.87)


def test_single_label_answer_with_two_classes_keeps_the_first_and_warns() -> None:
    result = parse_classification('["dog", "cat"]', PETS, multi_label=False)
    assert result.labels == ["dog"] and any("kept the first" in w for w in result.warnings)


@pytest.mark.parametrize("text", ["[]", "none", "None of these."])
def test_classification_explicit_none(text: str) -> None:
    result = parse_classification(text, PETS, multi_label=True)
    assert result.predictions == () and result.warnings


@pytest.mark.parametrize(
    ("text", "multi", "labels"),
    [
        pytest.param("This is not a cat; it is a dog.", False, ["dog"], id="not-a-x-then-y"),
        pytest.param("The image shows a dog, not a cat.", False, ["dog"], id="y-not-x"),
        pytest.param(
            "**Dog**\n\nThe floppy ears and the tail are typical of a dog rather than a cat.",
            False,
            ["dog"],
            id="bold-answer-then-explanation",
        ),
        pytest.param("Cat: yes\nDog: no\nCouch: no", True, ["cat"], id="yes-no-lines"),
        pytest.param(
            "- cat: present\n- dog: not present\n- couch: absent", True, ["cat"], id="present"
        ),
        pytest.param(
            "The image contains a cat and a couch, but no dog.",
            True,
            ["cat", "couch"],
            id="but-no-x",
        ),
        pytest.param(
            "| Class | Present |\n|---|---|\n| cat | Yes |\n| dog | No |\n| couch | Yes |",
            True,
            ["cat", "couch"],
            id="yes-no-table",
        ),
        pytest.param(
            "There is a dog on the couch. There is no cat.", True, ["dog", "couch"], id="sentences"
        ),
        pytest.param("Dog (confidence: 0.85)", False, ["dog"], id="number-is-not-a-verdict"),
        pytest.param("Cat: 1\nDog: 0\nCouch: 0", True, ["cat"], id="one-zero"),
    ],
)
def test_classes_the_answer_rules_out_are_not_predicted(
    text: str, multi: bool, labels: list[str]
) -> None:
    result = parse_classification(text, PETS, multi_label=multi)
    assert result.labels == labels


@pytest.mark.parametrize(
    "text",
    [
        "None of these classes apply.",
        "None of the listed classes apply to this image.",
        "Cat: no\nDog: no\nCouch: no",
        "There is no cat, no dog and no couch in this image.",
    ],
)
def test_an_answer_ruling_out_every_class_is_an_explicit_none(text: str) -> None:
    result = parse_classification(text, PETS, multi_label=True)
    assert result.predictions == () and result.warnings


def test_unmapped_class_is_kept_raw_not_dropped() -> None:
    result = parse_classification("hamster", PETS, multi_label=False)
    assert result.labels == []
    assert result.top is not None and result.top.label is None and result.top.raw == "hamster"
    assert any("none of the classes" in w for w in result.warnings)


def test_open_vocabulary_classification() -> None:
    assert parse_classification("A golden retriever.", None, multi_label=False).labels == [
        "A golden retriever"
    ]
    multi = parse_classification('["dog", "frisbee", "grass"]', None, multi_label=True)
    assert multi.labels == ["dog", "frisbee", "grass"]


def test_empty_classification_answer_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_classification("  ", PETS, multi_label=False)


# --------------------------------------------------------------------------------------------
# Free text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A cat on a mat.", "A cat on a mat.", id="plain"),
        pytest.param("  A cat on a mat.\n", "A cat on a mat.", id="whitespace"),
        pytest.param("Caption: A cat on a mat.", "A cat on a mat.", id="caption-prefix"),
        pytest.param("**Caption:** A cat on a mat.", "A cat on a mat.", id="bold-prefix"),
        pytest.param('"A cat on a mat."', "A cat on a mat.", id="quoted"),
        pytest.param("“A cat on a mat.”", "A cat on a mat.", id="curly-quotes"),
        pytest.param("```\nA cat on a mat.\n```", "A cat on a mat.", id="bare-fence"),
        pytest.param("```text\nA cat on a mat.\n```", "A cat on a mat.", id="text-fence"),
        pytest.param('{"caption": "A cat on a mat."}', "A cat on a mat.", id="json-caption"),
        pytest.param('"A cat\\non a mat."', "A cat\non a mat.", id="json-string"),
        pytest.param(
            "Here is a caption for the image:\n\nA cat on a mat.", "A cat on a mat.", id="preamble"
        ),
        pytest.param("1. A cat\n2. A mat", "1. A cat\n2. A mat", id="markdown-kept"),
        pytest.param('He said "hi" to me', 'He said "hi" to me', id="inner-quotes-kept"),
        pytest.param(
            "Look:\n```\ncode\n```\nThe end.",
            "Look:\n```\ncode\n```\nThe end.",
            id="inner-fence-kept",
        ),
        pytest.param("Here are three things:", "Here are three things:", id="lone-preamble-kept"),
        pytest.param("## Caption\nA cat on a mat.", "A cat on a mat.", id="heading"),
        pytest.param("**Answer**\nTwo cats.", "Two cats.", id="bold-heading"),
        pytest.param("## Caption", "## Caption", id="lone-heading-kept"),
        pytest.param(
            "Here is a short caption for the image: A cat on a mat.",
            "A cat on a mat.",
            id="one-line-preamble",
        ),
        pytest.param("Here's the answer: two.", "two.", id="one-line-answer-preamble"),
        pytest.param("A **grey** cat on a **red** mat.", "A grey cat on a red mat.", id="bold"),
        pytest.param("The function is `__init__`.", "The function is `__init__`.", id="dunder"),
        pytest.param("2**10 is 1024, and 3**2 is 9.", "2**10 is 1024, and 3**2 is 9.", id="power"),
        pytest.param("Call `a**b` or **c**", "Call `a**b` or c", id="code-span"),
        pytest.param("Here is my cat: Tom.", "Here is my cat: Tom.", id="not-a-preamble"),
        pytest.param("2**3 is 8", "2**3 is 8", id="lone-stars-kept"),
    ],
)
def test_free_text(text: str, expected: str) -> None:
    answer = parse_free_text(text)
    assert answer.text == expected and answer.raw_text == text


@pytest.mark.parametrize("text", ["", "   ", "```\n```", '""', "Caption:"])
def test_empty_free_text_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_free_text(text)
