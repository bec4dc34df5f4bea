"""LabelMapper: raw model labels → requested classes, one rule per row."""

from __future__ import annotations

import pytest

from gemini_vision.errors import ConfigurationError
from gemini_vision.parsing.labelmap import LabelMapper, clean_label, normalize, singular

CLASSES = ["cupcake", "box", "berry", "leaf", "traffic light", "light", "couch", "person", "knife"]


@pytest.mark.parametrize(
    ("raw", "label", "method"),
    [
        pytest.param("cupcake", "cupcake", "exact", id="exact"),
        pytest.param("  cupcake\n", "cupcake", "exact", id="exact-after-trimming"),
        pytest.param("Cupcake", "cupcake", "case", id="case"),
        pytest.param("TRAFFIC_LIGHT", "traffic light", "case", id="underscore"),
        pytest.param("traffic-light", "traffic light", "case", id="hyphen"),
        pytest.param("cupcake.", "cupcake", "case", id="punctuation"),
        pytest.param("cupcakes", "cupcake", "plural", id="plural-s"),
        pytest.param("boxes", "box", "plural", id="plural-es"),
        pytest.param("berries", "berry", "plural", id="plural-ies"),
        pytest.param("leaves", "leaf", "plural", id="plural-ves"),
        pytest.param("knives", "knife", "plural", id="plural-irregular-ves"),
        pytest.param("Traffic Lights", "traffic light", "plural", id="plural-phrase"),
        pytest.param("people", "person", "plural", id="people"),
        pytest.param("sofa", "couch", "synonym", id="builtin-synonym"),
        pytest.param("woman", "person", "synonym", id="builtin-synonym-group"),
        pytest.param("a red cupcake", "cupcake", "contains", id="contains"),
        pytest.param("cupcakes with sprinkles", "cupcake", "contains", id="contains-plural"),
        pytest.param("broken traffic light", "traffic light", "contains", id="longest-wins"),
        pytest.param("cupcak", "cupcake", "fuzzy", id="fuzzy-typo"),
        pytest.param("knive", "knife", "fuzzy", id="fuzzy-plural-typo"),
        pytest.param("a cupcake in a box", None, "unmapped", id="two-classes-named"),
        pytest.param("giraffe", None, "unmapped", id="unknown"),
        pytest.param("", None, "unmapped", id="empty"),
    ],
)
def test_map(raw: str, label: str | None, method: str) -> None:
    match = LabelMapper(CLASSES).map(raw)
    assert (match.label, match.method) == (label, method)
    assert match.raw == raw
    assert 0 <= match.score <= 1
    assert match.mapped == (label is not None)


def test_open_vocabulary_keeps_the_cleaned_raw_label() -> None:
    match = LabelMapper(None).map("  Red\nsprinkles ")
    assert (match.label, match.method, match.raw) == ("Red sprinkles", "open", "  Red\nsprinkles ")


def test_open_vocabulary_applies_user_synonyms() -> None:
    mapper = LabelMapper(None, {"kitty": "cat"})
    assert mapper.map("Kitties").label == "cat"
    assert mapper.map("dog").label == "dog"


def test_user_synonyms_map_to_classes() -> None:
    mapper = LabelMapper(["dog", "cat"], {"puppy dog": "dog", "kitty": "Cat"})
    assert mapper.map("puppy dogs").label == "dog"
    assert mapper.map("kitty").label == "cat"


def test_user_synonym_to_an_unknown_class_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not one of the classes"):
        LabelMapper(["dog"], {"kitty": "cat"})


def test_builtin_synonyms_are_skipped_when_ambiguous() -> None:
    mapper = LabelMapper(["man", "woman"])
    assert mapper.map("person").method in ("unmapped", "fuzzy")
    assert mapper.map("women").label == "woman"


def test_builtin_synonyms_can_be_disabled() -> None:
    assert LabelMapper(["couch"], builtin_synonyms=False).map("sofa").label is None


def test_fuzzy_cutoff() -> None:
    assert LabelMapper(["cupcake"], fuzzy_cutoff=0.99).map("cupcak").label is None
    assert LabelMapper(["cupcake"], fuzzy_cutoff=0).map("cupcak").label is None


def test_unicode_classes() -> None:
    mapper = LabelMapper(["おにぎり", "Café"])
    assert mapper.map("おにぎり").method == "exact"
    assert mapper.map("CAFÉ").label == "Café"


def test_find_mentions_in_a_sentence() -> None:
    mapper = LabelMapper(["cat", "dog", "traffic light"])
    assert mapper.find_mentions("Two dogs sit under a traffic light, no cat.") == [
        "dog",
        "traffic light",
        "cat",
    ]
    assert mapper.find_mentions("nothing here") == []


def test_classes_must_be_a_list() -> None:
    with pytest.raises(ConfigurationError):
        LabelMapper("cat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("cupcakes", "cupcake"),
        ("boxes", "box"),
        ("glasses", "glasses"),
        ("dresses", "dress"),
        ("berries", "berry"),
        ("cookies", "cookie"),
        ("leaves", "leaf"),
        ("gloves", "glove"),
        ("tomatoes", "tomato"),
        ("shoes", "shoe"),
        ("watches", "watch"),
        ("vases", "vase"),
        ("buses", "bus"),
        ("bus", "bus"),
        ("sheep", "sheep"),
        ("cactus", "cactus"),
        ("cat", "cat"),
    ],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_clean_and_normalize() -> None:
    assert clean_label(" a\n b  ") == "a b"
    assert normalize("Traffic_Light!") == "traffic light"
