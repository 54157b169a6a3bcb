"""The JSON Lines fast path agrees with the full checks: same spec, or it declines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.manifest import Problem, VersionSpec, read_manifest
from uploader.manifest.entries import read_entry
from uploader.manifest.fastpath import fast_version
from uploader.manifest.fields import Context
from uploader.manifest.jsonpos import LINE_DECODER, JsonNode
from uploader.manifest.paths import Paths


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two files, one with a space, a subfolder and a symlink leading out."""
    root = tmp_path_factory.mktemp("fastpath")
    (root / "sub").mkdir()
    for name in ("a.bin", "sub/b.txt", "has space.bin"):
        (root / name).write_bytes(b"x")
    (root / "out.bin").symlink_to(tmp_path_factory.mktemp("elsewhere") / "x")
    return root


GOOD = st.sampled_from(["demo", "repo", "acme", "app", "1.0", "A-B", "x.y"])
BAD = st.sampled_from(["", "a/b", "#no", "12", "bad name", "UPPER"])
NAMES = st.one_of(GOOD, GOOD, GOOD, BAD)
VALUES = st.one_of(NAMES, st.integers(), st.none(), st.booleans(), st.lists(NAMES, max_size=1))
GOOD_PATHS = st.sampled_from(["a.bin", "sub/b.txt", "has space.bin", "./a.bin", "sub/../a.bin"])
BAD_PATHS = st.sampled_from(["missing.bin", "../x", "/etc/hostname", "out.bin", "sub", ""])
PATHS = st.one_of(GOOD_PATHS, GOOD_PATHS, BAD_PATHS)
ASSET = st.one_of(
    st.fixed_dictionaries({"path": PATHS}),
    st.fixed_dictionaries(
        {"path": PATHS},
        optional={
            "name": NAMES,
            "sha256": st.sampled_from(["a" * 64, "A" * 64, "a" * 63, ""]),
            "url": st.just("s3://b/k"),
        },
    ),
)
PLAIN_ASSET = st.fixed_dictionaries({"path": GOOD_PATHS})
ASSET = st.one_of(PLAIN_ASSET, PLAIN_ASSET, PLAIN_ASSET, ASSET, ASSET, st.integers())
ASSETS = st.lists(ASSET, min_size=1, max_size=3)
ENTRIES = st.builds(
    lambda base, extra, assets: {**base, **extra, **({} if assets is None else {"assets": assets})},
    st.fixed_dictionaries({"package": NAMES, "version": NAMES}),
    st.just({})
    | st.just({})
    | st.dictionaries(
        st.sampled_from(["domain", "domain_owner", "repository", "namespace", "status", "assetz"]),
        st.one_of(NAMES, VALUES, st.sampled_from(["111122223333", "Published", "Unlisted"])),
        max_size=2,
    ),
    st.one_of(ASSETS, ASSETS, ASSETS, st.none(), st.just([]), st.just("a.bin")),
)
FULL = st.just({"domain": "demo", "repository": "repo", "namespace": "acme"})
DEFAULTS = st.one_of(
    FULL,
    FULL,
    st.fixed_dictionaries(
        {},
        optional={
            "domain": st.just("demo"),
            "repository": st.just("repo"),
            "namespace": st.just("acme"),
        },
    ),
)


def _context(root: Path) -> Context:
    return Context("m.jsonl", Paths(root, root, allow_outside=False, check_files=True))


@settings(max_examples=400)
@given(entry=ENTRIES, defaults=DEFAULTS, text_duplicate=st.booleans())
def test_the_fast_path_yields_the_full_checks_spec_or_declines(
    tree: Path, entry: dict[str, object], defaults: dict[str, object], text_duplicate: bool
) -> None:
    """For any entry: the fast path's spec is the full checks' spec; where the full checks
    find a problem, the fast path declines (None)."""
    text = json.dumps(entry)
    if text_duplicate and text.startswith('{"package"'):
        text = '{"package": "dup", ' + text[1:]  # a key given twice
    value = LINE_DECODER.decode(text)
    slow = list(read_entry(JsonNode.wrap(value, 3, None), 7, "", defaults, _context(tree)))
    fast = fast_version(value, 3, 7, defaults, _context(tree))
    if fast is not None:
        assert slow == [fast]
    if any(isinstance(item, Problem) for item in slow):
        assert fast is None


def test_the_strategy_reaches_both_sides(tree: Path) -> None:
    """The agreement above is not vacuous: of 300 drawn entries, the fast path takes some
    and declines some (drawn with the same strategies, derandomized)."""
    accepted = []

    @settings(max_examples=300, database=None, derandomize=True)
    @given(entry=ENTRIES, defaults=DEFAULTS)
    def draw(entry: dict[str, object], defaults: dict[str, object]) -> None:
        value = LINE_DECODER.decode(json.dumps(entry))
        accepted.append(fast_version(value, 1, 0, defaults, _context(tree)) is not None)

    draw()
    assert 0.05 < sum(accepted) / len(accepted) < 0.95, (sum(accepted), len(accepted))


def test_a_manifest_of_plain_lines_reads_the_same_with_and_without_it(tmp_path: Path) -> None:
    """A real JSON Lines file: every spec has its line and index; a bad line in the middle
    still gets its located problem."""
    (tmp_path / "a.bin").write_bytes(b"x")
    lines = [{"domain": "demo", "repository": "repo", "namespace": "acme", "package": "p",
              "version": str(n), "assets": [{"path": "a.bin"}]} for n in range(5)]  # fmt: skip
    lines[2]["assets"] = [{"path": "nope.bin"}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    got = list(read_manifest(manifest))
    assert [g.place.line for g in got] == [1, 2, 3, 4, 5]
    assert isinstance(got[2], Problem)
    assert str(got[2]).endswith("m.jsonl:3: assets[0].path: file not found")
    assert [g.index for g in got if isinstance(g, VersionSpec)] == [0, 1, 3, 4]
