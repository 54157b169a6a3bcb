"""The JSON position parser and the JSON Lines decoder against `json.loads`, differentially.

For generated documents and lines, valid and corrupted: what `json.loads` accepts, we
accept with an equal value; what it refuses, we refuse with a place inside the text (the
line, and the column the message names). The documented limits are kept out of the
generated inputs (nesting past MAX_JSON_DEPTH, integers too long for `int()`) and checked
on their own.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from uploader.manifest import Problem, read_manifest
from uploader.manifest.jsonpos import LINE_DECODER, MAX_JSON_DEPTH, JsonParser, Pos
from uploader.manifest.nodes import JsonObject

REFUSED = object()
NAN = "<nan>"  # NaN != NaN: both sides map it to this before comparing
COLUMN = re.compile(r"\(column (\d+)\)$")

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)
# Characters a corruption inserts or swaps in: JSON's own punctuation, literals' letters,
# digits and whitespace, so that some corruptions stay valid and most break something.
NOISE = st.sampled_from(list('{}[],:"\\ \t0123456789.eE+-truefalsnNIy/\x00\u00e9'))


def plain(value: object) -> object:
    """A parsed value as `json.loads` builds it: Pos unwrapped, objects as dicts, NaN marked."""
    if isinstance(value, Pos):
        return plain(value.value)
    if isinstance(value, JsonObject):
        return {key: plain(item) for key, item in value.pairs}  # the last duplicate wins
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return NAN
    return value


def reference(text: str) -> object:
    """What `json.loads` makes of the text, or REFUSED."""
    try:
        return plain(json.loads(text))
    except (ValueError, RecursionError):
        return REFUSED


@st.composite
def documents(draw: st.DrawFn, *, multiline: bool) -> str:
    """JSON text of a generated value, laid out one of several ways."""
    indent = draw(st.sampled_from([None, 0, 2] if multiline else [None]))
    separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" ,  ", " : ")]))
    ascii_only = draw(st.booleans())
    text = json.dumps(draw(VALUES), indent=indent, separators=separators, ensure_ascii=ascii_only)
    padding = st.sampled_from(["", " ", "\n", "\t \r\n"] if multiline else ["", " ", "\t"])
    return draw(padding) + text + draw(padding)


@st.composite
def corrupted(draw: st.DrawFn, *, multiline: bool) -> str:
    """A document with one to three edits: a character deleted, inserted, replaced, or a cut."""
    text = draw(documents(multiline=multiline))
    noise = NOISE | st.sampled_from(["\n", "\r"]) if multiline else NOISE
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        if edit == "delete":
            text = text[:at] + text[at + 1 :]
        elif edit == "insert":
            text = text[:at] + draw(noise) + text[at:]
        elif edit == "replace":
            text = text[:at] + draw(noise) + text[at + 1 :]
        else:
            text = text[:at]
    return text


def texts(*, multiline: bool) -> st.SearchStrategy[str]:
    """Valid and corrupted JSON texts, about half each."""
    return documents(multiline=multiline) | corrupted(multiline=multiline)


def assert_inside(text: str, line: int, column: int) -> None:
    """The 1-based line exists in the text and the column is on it (or just past its end)."""
    lines = text.split("\n")
    assert 1 <= line <= len(lines), (line, text)
    assert 1 <= column <= len(lines[line - 1]) + 1, (line, column, text)


def outcome(parse: Callable[[], object]) -> object:
    """The parsed value made plain, or the JSONDecodeError raised."""
    try:
        return plain(parse())
    except json.JSONDecodeError as error:
        return error


def assert_agrees(got: object, text: str) -> None:
    """`got` is json.loads's value, or a located error where json.loads refuses the text."""
    expected = reference(text)
    if expected is REFUSED:
        assert isinstance(got, json.JSONDecodeError), f"accepted invalid JSON {text!r}"
        assert_inside(text, got.lineno, got.colno)
    else:
        assert not isinstance(got, json.JSONDecodeError), f"refused {text!r}: {got}"
        assert got == expected


# A few hundred examples in all under the "ci" profile (derandomized: the same ones every run);
# the "fuzz" profile's count (`make fuzz`) when larger.
@settings(max_examples=max(150, settings.default.max_examples))
@given(texts(multiline=True))
def test_position_parser_accepts_what_json_loads_accepts_with_equal_values(text: str) -> None:
    """Whole-file JSON: accepted iff json.loads accepts, the same value, else a located error."""
    assert_agrees(outcome(lambda: JsonParser(text).document()), text)


@settings(max_examples=max(100, settings.default.max_examples))
@given(texts(multiline=False))
def test_line_decoder_accepts_what_json_loads_accepts_with_equal_values(text: str) -> None:
    """A JSON Lines entry: the line decoder agrees with json.loads, value for value."""
    assert_agrees(outcome(lambda: LINE_DECODER.decode(text)), text)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example's manifest (each overwrites the last)."""
    return tmp_path_factory.mktemp("json")


def json_problems(entries: Iterator[object]) -> list[Problem]:
    """The `not valid JSON` problems among what the reader yields."""
    found = [entry for entry in entries if isinstance(entry, Problem)]
    return [problem for problem in found if problem.message.startswith("not valid JSON:")]


def assert_located(problem: Problem, text: str) -> None:
    """The problem names a line of the text and a column on that line."""
    column = COLUMN.search(problem.message)
    assert column is not None, problem
    assert_inside(text, problem.place.line, int(column.group(1)))


@settings(max_examples=max(60, settings.default.max_examples))
@given(text=texts(multiline=True))
def test_json_manifest_is_refused_exactly_when_json_loads_refuses_it(
    text: str, folder: Path
) -> None:
    """`.json` through read_manifest: one located syntax problem iff json.loads refuses it."""
    assume(text.strip())  # a blank file is an empty manifest, not JSON
    path = folder / "m.json"
    path.write_text(text, encoding="utf-8")
    found = json_problems(read_manifest(path, check_files=False))
    if reference(text) is REFUSED:
        assert len(found) == 1, (text, found)
        assert_located(found[0], text)
    else:
        assert found == []


@settings(max_examples=max(100, settings.default.max_examples))
@given(texts(multiline=False))
def test_jsonl_line_is_refused_exactly_when_json_loads_refuses_it(text: str) -> None:
    """A JSON Lines line (third of three): one problem on its line iff json.loads refuses it."""
    assume(text.strip(" \t\x0b\x0c"))  # a blank line is skipped, not an entry
    before = '{"package": "a"}\n{"package": "b"}\n'
    stream = io.StringIO(before + text + "\n")
    found = json_problems(read_manifest("-", stdin=stream, check_files=False))
    if reference(text) is REFUSED:
        assert len(found) == 1, (text, found)
        assert found[0].place.line == 3
        assert_located(found[0], "\n\n" + text)
    else:
        assert found == []


def nested(depth: int) -> str:
    """Arrays nested `depth` deep around a number."""
    return "[" * depth + "1" + "]" * depth


def test_nesting_up_to_the_limit_is_parsed_as_json_loads_does() -> None:
    """MAX_JSON_DEPTH levels of nesting: the same value as json.loads."""
    text = nested(MAX_JSON_DEPTH)
    assert plain(JsonParser(text).document()) == json.loads(text)


@pytest.mark.parametrize("layout", ["one line", "one per line"])
def test_nesting_past_the_limit_is_a_located_error(layout: str) -> None:
    """Deeper than MAX_JSON_DEPTH: refused (json.loads would take it) at a place in the text."""
    text = nested(MAX_JSON_DEPTH + 5)
    if layout == "one per line":
        text = "\n".join(text)
    assert json.loads(text)
    with pytest.raises(json.JSONDecodeError, match="nested too deeply") as caught:
        JsonParser(text).document()
    assert_inside(text, caught.value.lineno, caught.value.colno)


def test_an_integer_too_long_for_int_becomes_a_float_not_an_error() -> None:
    """The other documented limit: digits past int()'s cap decode as a float, not a crash."""
    text = '{"n": ' + "9" * 5000 + "}"
    with pytest.raises(ValueError, match="digits"):
        json.loads(text)
    assert plain(JsonParser(text).document()) == {"n": math.inf}
    assert plain(LINE_DECODER.decode(text)) == {"n": math.inf}
