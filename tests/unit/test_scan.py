"""`uploader scan`: layouts, filters, problems, asset names, order, streaming and a round trip."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.manifest import Problem, VersionSpec, read_manifest
from uploader.scan import (
    DEFAULT_LAYOUT,
    Layout,
    ScannedAsset,
    ScannedVersion,
    ScanProblem,
    ScanTotals,
    Segment,
    scan,
    write_jsonl,
)

FAST = settings(max_examples=300, deadline=None)
DEFAULT = Layout.parse(DEFAULT_LAYOUT)


def tree(root: Path, *files: str) -> Path:
    """Create each file (a path relative to root) holding its own path."""
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel, encoding="utf-8")
    return root


def run(root: Path, layout: Layout = DEFAULT, **kwargs: Any) -> list[ScannedVersion | ScanProblem]:
    kwargs.setdefault("output_dir", root)
    return list(scan(root, layout=layout, **kwargs))


def versions(items: Iterable[ScannedVersion | ScanProblem]) -> list[ScannedVersion]:
    return [item for item in items if isinstance(item, ScannedVersion)]


def problems(items: Iterable[ScannedVersion | ScanProblem]) -> list[str]:
    return [str(item) for item in items if isinstance(item, ScanProblem)]


def keys(items: Iterable[ScannedVersion | ScanProblem]) -> list[tuple[str, str, str]]:
    return [(v.namespace, v.package, v.version) for v in versions(items)]


def paths(items: Iterable[ScannedVersion | ScanProblem]) -> list[str]:
    return [asset.path for v in versions(items) for asset in v.assets]


def jsonl(items: Iterable[ScannedVersion | ScanProblem]) -> str:
    out = io.StringIO()
    write_jsonl(items, out, on_problem=lambda problem: None)
    return out.getvalue()


# --- Layout ----------------------------------------------------------------------------


def test_default_layout_parses_to_three_placeholders() -> None:
    """The default layout is namespace, package, version, one folder each."""
    assert DEFAULT.segments == (
        Segment("", "namespace"),
        Segment("", "package"),
        Segment("", "version"),
    )
    assert DEFAULT.fields == ("namespace", "package", "version")
    assert str(DEFAULT) == "{namespace}/{package}/{version}/"


def test_layout_with_literals_and_affixes() -> None:
    """Literal segments and affixes around a placeholder are kept; a final '/' is optional."""
    layout = Layout.parse("releases/{package}/v{version}-bin")
    assert layout.segments == (
        Segment("releases"),
        Segment("", "package"),
        Segment("v", "version", "-bin"),
    )
    assert str(layout) == "releases/{package}/v{version}-bin/"
    assert Layout.parse(str(layout)) == layout


def test_layout_match_returns_the_placeholder_values() -> None:
    """match() gives the values of a path's leading folders, None when they do not fit."""
    layout = Layout.parse("releases/{package}/v{version}")
    assert layout.match(["releases", "app", "v1.0", "a.txt"]) == {
        "package": "app",
        "version": "1.0",
    }
    assert layout.match(["releases", "app", "v1.0"]) == {"package": "app", "version": "1.0"}
    assert layout.match(["releases", "app"]) is None
    assert layout.match(["other", "app", "v1.0"]) is None
    assert layout.match(["releases", "app", "v"]) is None  # a placeholder is never empty
    assert layout.match(["releases", "app", "1.0"]) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("/", "is empty"),
        ("/{package}/{version}", "must be relative"),
        ("{package}//{version}", "empty segment"),
        ("{package}/../{version}", "'..' segment"),
        ("./{package}/{version}", "'.' segment"),
        ("{package}/{version}/{arch}", "unknown placeholder {arch}"),
        ("{package}/{version}/{package}", "{package} appears 2 times"),
        ("{package}-{version}", "more than one placeholder"),
        ("{package}/{version", "unmatched"),
        ("{package}/version}", "unmatched"),
        ("{namespace}/{version}", "has no {package}"),
        ("{namespace}/{package}", "has no {version}"),
        ("releases/", "has no {package} and {version}"),
        ("{package}/{version}/\0", "NUL"),
    ],
)
def test_bad_layouts_are_value_errors(text: str, fragment: str) -> None:
    """Each bad template is a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match="layout") as caught:
        Layout.parse(text)
    assert fragment in str(caught.value)


LAYOUT_PIECES = st.sampled_from(
    ["{namespace}", "{package}", "{version}", "{arch}", "{", "}", "/", ".", "..", "v", "-", "\0"]
)


@FAST
@given(st.lists(LAYOUT_PIECES | st.text(max_size=2), max_size=12).map("".join))
def test_layout_parse_raises_only_value_error(text: str) -> None:
    """Layout.parse on layout-like text returns a layout that round-trips, or raises ValueError."""
    try:
        layout = Layout.parse(text)
    except ValueError:
        return
    assert Layout.parse(str(layout)) == layout
    assert {"package", "version"} <= set(layout.fields)


@FAST
@given(st.text(max_size=60))
def test_layout_parse_of_any_text_raises_only_value_error(text: str) -> None:
    """Arbitrary Unicode text never makes Layout.parse raise anything but ValueError."""
    with contextlib.suppress(ValueError):
        Layout.parse(text)


# --- Finding versions -------------------------------------------------------------------


def test_default_layout_finds_each_version_with_its_files(tmp_path: Path) -> None:
    """Every file below namespace/package/version is an asset named by its base name."""
    root = tree(
        tmp_path,
        "acme/app/1.0/app.tar.gz",
        "acme/app/1.0/app.sha256",
        "acme/app/1.1/app.tar.gz",
        "other/lib/2.0/lib.zip",
    )
    assert run(root) == [
        ScannedVersion(
            "acme",
            "app",
            "1.0",
            (
                ScannedAsset("acme/app/1.0/app.sha256", "app.sha256"),
                ScannedAsset("acme/app/1.0/app.tar.gz", "app.tar.gz"),
            ),
        ),
        ScannedVersion(
            "acme", "app", "1.1", (ScannedAsset("acme/app/1.1/app.tar.gz", "app.tar.gz"),)
        ),
        ScannedVersion("other", "lib", "2.0", (ScannedAsset("other/lib/2.0/lib.zip", "lib.zip"),)),
    ]


def test_literal_segments_and_a_given_namespace(tmp_path: Path) -> None:
    """A layout without {namespace} takes the given one; literal segments must match exactly."""
    root = tree(
        tmp_path,
        "releases/app/1.0/app.tar.gz",
        "releases/lib/0.1/lib.zip",
        "Releases/app/9.9/x.bin",
        "snapshots/app/2.0/y.bin",
    )
    items = run(root, Layout.parse("releases/{package}/{version}/"), namespace="acme")
    assert keys(items) == [("acme", "app", "1.0"), ("acme", "lib", "0.1")]
    assert problems(items) == [
        "Releases/: does not fit layout 'releases/{package}/{version}/': not 'releases';"
        " 1 file skipped",
        "snapshots/: does not fit layout 'releases/{package}/{version}/': not 'releases';"
        " 1 file skipped",
    ]


def test_prefix_and_suffix_around_a_placeholder(tmp_path: Path) -> None:
    """`v{version}` takes the name without its 'v'; folders without it do not fit."""
    root = tree(tmp_path, "app/v1.0/a", "app/v2/b", "app/latest/c")
    items = run(root, Layout.parse("{package}/v{version}"), namespace="acme")
    assert keys(items) == [("acme", "app", "1.0"), ("acme", "app", "2")]
    assert problems(items) == [
        "app/latest/: does not fit layout '{package}/v{version}/': not 'v{version}'; 1 file skipped"
    ]


def test_folders_after_the_version_are_part_of_the_layout(tmp_path: Path) -> None:
    """Literal segments after {version} are required folders; the assets sit below them."""
    root = tree(tmp_path, "app/1.0/files/a.bin", "app/1.0/meta.json")
    items = run(root, Layout.parse("{package}/{version}/files"), namespace="acme")
    assert paths(items) == ["app/1.0/files/a.bin"]
    assert problems(items) == [
        "app/1.0/meta.json: a file where layout '{package}/{version}/files/'"
        " expects a folder 'files'"
    ]


def test_nested_subfolders_are_assets_of_their_version(tmp_path: Path) -> None:
    """Files in subfolders of a version folder belong to it, sorted by their path below it."""
    root = tree(
        tmp_path, "acme/app/1.0/z.txt", "acme/app/1.0/docs/deep/er/a.pdf", "acme/app/1.0/bin/app"
    )
    [version] = versions(run(root))
    assert [(a.path.removeprefix("acme/app/1.0/"), a.name) for a in version.assets] == [
        ("bin/app", "app"),
        ("docs/deep/er/a.pdf", "a.pdf"),
        ("z.txt", "z.txt"),
    ]


def test_repeated_base_names_are_named_by_their_path(tmp_path: Path) -> None:
    """Files sharing a base name are named by their path below the version, `/` as `_`."""
    root = tree(
        tmp_path,
        "acme/app/1.0/app",
        "acme/app/1.0/linux/app",
        "acme/app/1.0/mac/arm/app",
        "acme/app/1.0/mac/README",
        "acme/app/1.1/linux/app",
    )
    by_version = {v.version: [a.name for a in v.assets] for v in versions(run(root))}
    assert by_version == {"1.0": ["app", "linux_app", "README", "mac_arm_app"], "1.1": ["app"]}


def test_empty_version_folders_are_left_out_silently(tmp_path: Path) -> None:
    """A version folder with no files is neither a version nor a problem."""
    (tmp_path / "acme" / "app" / "1.0" / "empty").mkdir(parents=True)
    tree(tmp_path, "acme/app/2.0/a")
    assert keys(run(tmp_path)) == [("acme", "app", "2.0")]
    assert problems(run(tmp_path)) == []


# --- Filters ----------------------------------------------------------------------------

FILTER_TREE = (
    "acme/app/1.0/app.tar.gz",
    "acme/app/1.0/app.tar.gz.md5",
    "acme/app/1.0/docs/index.html",
    "acme/app/2.0/app.tar.gz",
    "acme/lib/1.0/lib.jar",
    "acme/lib/1.0/lib.jar.md5",
)


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        ((), (), FILTER_TREE),
        ((), ("*.md5",), [p for p in FILTER_TREE if not p.endswith(".md5")]),
        (("*.tar.gz",), (), ["acme/app/1.0/app.tar.gz", "acme/app/2.0/app.tar.gz"]),
        (("acme/lib",), (), ["acme/lib/1.0/lib.jar", "acme/lib/1.0/lib.jar.md5"]),
        (("acme/*/1.0",), ("*.md5", "docs"), ["acme/app/1.0/app.tar.gz", "acme/lib/1.0/lib.jar"]),
        (("**/docs/**",), (), ["acme/app/1.0/docs/index.html"]),
        (("acme/**/*.jar",), (), ["acme/lib/1.0/lib.jar"]),
        (("*.tar.gz",), ("acme/app/2.0",), ["acme/app/1.0/app.tar.gz"]),
        (
            ("acme/app/?.0/app.tar.g[xyz]",),
            (),
            ["acme/app/1.0/app.tar.gz", "acme/app/2.0/app.tar.gz"],
        ),
        (("acme/app/[!2].0/*.gz",), (), ["acme/app/1.0/app.tar.gz"]),
        (("/acme/lib/1.0/lib.jar",), (), ["acme/lib/1.0/lib.jar"]),
        (("acme/*",), ("acme/*/*/*.md5",), [p for p in FILTER_TREE if not p.endswith(".md5")]),
    ],
)
def test_include_and_exclude_globs(
    tmp_path: Path, include: Sequence[str], exclude: Sequence[str], expected: Sequence[str]
) -> None:
    """Globs match paths below DIR, or names at any depth without '/'; exclude wins."""
    items = run(tree(tmp_path, *FILTER_TREE), include=include, exclude=exclude)
    assert paths(items) == sorted(expected)
    assert problems(items) == []


def test_star_does_not_cross_folders(tmp_path: Path) -> None:
    """`acme/*.gz` matches only files directly in acme, not deeper ones."""
    items = run(tree(tmp_path, *FILTER_TREE), include=["acme/*.gz"])
    assert paths(items) == []


def test_filters_keep_left_out_folders_quiet(tmp_path: Path) -> None:
    """A folder that does not fit is reported only if it holds files the filters select."""
    root = tree(
        tmp_path, "acme/app/1.0/a.bin", "junk.txt", "acme/app/v 2/b.bin", "acme/app/v 2/c.md5"
    )
    assert problems(run(root, exclude=["*.md5"])) == [
        "acme/app/v 2/: version 'v 2' does not match the name rule (no '#', '/' or white space);"
        " 1 file skipped",
        "junk.txt: a file where layout '{namespace}/{package}/{version}/' expects a folder"
        " '{namespace}'",
    ]
    assert problems(run(root, include=["*.bin"], exclude=["v 2"])) == []


def test_hidden_files_and_folders_are_skipped_unless_asked(tmp_path: Path) -> None:
    """Names starting with '.' are skipped at every level unless hidden=True."""
    root = tree(
        tmp_path,
        "acme/app/1.0/a.bin",
        "acme/app/1.0/.checksums",
        "acme/app/1.0/.meta/x.json",
        "acme/.index/1.0/i",
        ".git/objects/ab/cd",
    )
    assert paths(run(root)) == ["acme/app/1.0/a.bin"]
    assert problems(run(root)) == []
    items = run(root, hidden=True)
    assert keys(items) == [
        (".git", "objects", "ab"),
        ("acme", ".index", "1.0"),
        ("acme", "app", "1.0"),
    ]
    assert paths(items)[-3:] == [
        "acme/app/1.0/.checksums",
        "acme/app/1.0/.meta/x.json",
        "acme/app/1.0/a.bin",
    ]


def test_bad_patterns_are_value_errors(tmp_path: Path) -> None:
    """An empty glob is refused when scan is called, before any walking."""
    with pytest.raises(ValueError, match="is empty"):
        scan(tmp_path, layout=DEFAULT, output_dir=tmp_path, include=["/"])


def test_unclosed_bracket_is_literal(tmp_path: Path) -> None:
    """A '[' without its ']' matches itself, as in fnmatch."""
    root = tree(tmp_path, "acme/app/1.0/a[1", "acme/app/1.0/a1")
    assert paths(run(root, include=["a[1"])) == ["acme/app/1.0/a[1"]


def test_negation_escape_and_folder_only_patterns_follow_gitignore(tmp_path: Path) -> None:
    """`!` takes a file back, `\\` escapes, a trailing `/` matches folders only."""
    root = tree(tmp_path, *FILTER_TREE, "acme/app/3.0/a[1]", "acme/app/3.0/a1", "acme/lib/1.0/docs")
    kept = run(root, exclude=["*.md5", "!lib.jar.md5"])
    assert [p for p in paths(kept) if p.endswith(".md5")] == ["acme/lib/1.0/lib.jar.md5"]
    assert paths(run(root, include=["acme/lib", "!*.md5"])) == [
        "acme/lib/1.0/docs",
        "acme/lib/1.0/lib.jar",
    ]
    assert paths(run(root, include=["a[1]"])) == ["acme/app/3.0/a1"]
    assert paths(run(root, include=["a\\[1]"])) == ["acme/app/3.0/a[1]"]
    assert "acme/lib/1.0/docs" in paths(run(root, exclude=["docs/"]))
    assert "acme/app/1.0/docs/index.html" not in paths(run(root, exclude=["docs/"]))


def test_an_excluded_folder_is_not_entered(tmp_path: Path) -> None:
    """A negation cannot take back a file below an excluded folder, as in gitignore."""
    root = tree(tmp_path, *FILTER_TREE)
    items = run(root, exclude=["docs", "!docs/index.html"])
    assert "acme/app/1.0/docs/index.html" not in paths(items)
    assert problems(items) == []


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [("", "is empty"), ("#x", "comment or blank"), ("   ", "comment or blank"), ("[z-a]", "bad")],
)
def test_patterns_that_select_nothing_or_cannot_compile_are_refused(
    tmp_path: Path, pattern: str, fragment: str
) -> None:
    """An empty, comment or blank pattern, or a bad range, is a ValueError before walking."""
    for flag in ("include", "exclude"):
        with pytest.raises(ValueError, match="pattern") as caught:
            scan(tmp_path, layout=DEFAULT, output_dir=tmp_path, **{flag: [pattern]})
        assert fragment in str(caught.value)


# --- Problems ---------------------------------------------------------------------------


def test_files_above_the_version_level_are_reported(tmp_path: Path) -> None:
    """A file where the layout expects a folder is a problem; the rest is still found."""
    root = tree(
        tmp_path, "README", "acme/index.json", "acme/app/maven-metadata.xml", "acme/app/1.0/a"
    )
    items = run(root)
    assert keys(items) == [("acme", "app", "1.0")]
    layout = "layout '{namespace}/{package}/{version}/'"
    assert problems(items) == [
        f"README: a file where {layout} expects a folder '{{namespace}}'",
        f"acme/app/maven-metadata.xml: a file where {layout} expects a folder '{{version}}'",
        f"acme/index.json: a file where {layout} expects a folder '{{package}}'",
    ]


def test_invalid_names_are_reported_and_the_rest_written(tmp_path: Path) -> None:
    """A folder whose value breaks the service's name rules is one problem, counting its files."""
    root = tree(tmp_path, "acme/app/1 0/a", "acme/app/1 0/sub/b", "acme/app/1.0/a", "ac#me/x/1/a")
    items = run(root)
    assert keys(items) == [("acme", "app", "1.0")]
    assert problems(items) == [
        "ac#me/: namespace 'ac#me' does not match the name rule (no '#', '/' or white space);"
        " 1 file skipped",
        "acme/app/1 0/: version '1 0' does not match the name rule (no '#', '/' or white space);"
        " 2 files skipped",
    ]


def test_bad_asset_names_keep_their_version_out(tmp_path: Path) -> None:
    """A file name with a control character is reported on one line; its version is not written."""
    root = tree(tmp_path, "acme/app/1.0/good", "acme/app/1.0/bad\nname", "acme/app/2.0/ok")
    items = run(root)
    assert keys(items) == [("acme", "app", "2.0")]
    [problem] = problems(items)
    assert "\n" not in problem
    assert problem == (
        "'acme/app/1.0/bad\\nname': asset name contains the control or invisible character U+000A;"
        " version not written"
    )


def test_more_than_150_files_keep_the_version_out(tmp_path: Path) -> None:
    """A version with more files than the service takes is one problem; the others are written."""
    tree(tmp_path, *[f"acme/big/1.0/f{i:03}" for i in range(MAX_ASSETS_PER_VERSION + 1)])
    tree(tmp_path, *[f"acme/full/1.0/f{i:03}" for i in range(MAX_ASSETS_PER_VERSION)])
    items = run(tmp_path)
    assert keys(items) == [("acme", "full", "1.0")]
    assert len(versions(items)[0].assets) == MAX_ASSETS_PER_VERSION
    assert problems(items) == [
        "acme/big/1.0/: 151 files; a version takes at most 150; version not written"
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_links_to_files_are_taken_and_links_to_folders_are_not(tmp_path: Path) -> None:
    """A symlink to a file is an asset; one to a folder is a problem that keeps its version out."""
    tree(tmp_path, "store/blob", "store/dir/x", "acme/app/1.0/a", "acme/app/2.0/a")
    (tmp_path / "acme/app/1.0/linked").symlink_to(tmp_path / "store/blob")
    (tmp_path / "acme/app/2.0/folder").symlink_to(tmp_path / "store/dir")
    (tmp_path / "acme/app/2.0/broken").symlink_to(tmp_path / "missing")
    items = run(tmp_path, exclude=["store"])
    assert paths(items) == ["acme/app/1.0/a", "acme/app/1.0/linked"]
    assert problems(items) == [
        "acme/app/2.0/broken: not a regular file; version not written",
        "acme/app/2.0/folder: a symbolic link to a folder, not followed; version not written",
    ]


def test_a_path_name_that_collides_keeps_its_version_out(tmp_path: Path) -> None:
    """`linux/app` would be `linux_app`, the name of another file: reported, version not written."""
    tree(tmp_path, "acme/app/1.0/app", "acme/app/1.0/linux/app", "acme/app/1.0/linux_app")
    items = run(tmp_path)
    assert keys(items) == []
    assert problems(items) == [
        f"acme/app/1.0/{rel}: asset name 'linux_app' is the name of another file of this"
        " version too; version not written"
        for rel in ("linux/app", "linux_app")
    ]


def test_names_outside_the_documented_set_keep_their_version_out(tmp_path: Path) -> None:
    """`bad:name?.txt` is reported, not renamed; `a b.txt` (one inner space) is taken."""
    tree(tmp_path, "acme/app/1.0/bad:name?.txt", "acme/app/2.0/a b.txt")
    items = run(tmp_path)
    assert keys(items) == [("acme", "app", "2.0")]
    assert problems(items) == [
        "acme/app/1.0/bad:name?.txt: asset name contains ':'; asset names take letters, digits,"
        " single spaces inside and ~!@^&()-_+[]{};,. only; version not written"
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_link_leading_outside_the_folder_is_reported_and_left_out(tmp_path: Path) -> None:
    """A symlink to a file outside DIR keeps its version out with one line; one inside is taken."""
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o")
    root = tree(tmp_path / "export", "acme/app/1.0/a", "acme/app/2.0/a", "store/in")
    (root / "acme/app/1.0/escape").symlink_to(outside)
    (root / "acme/app/2.0/inside").symlink_to(root / "store/in")
    items = run(root, exclude=["store"])
    assert keys(items) == [("acme", "app", "2.0")]
    assert problems(items) == [
        "acme/app/1.0/escape: a symbolic link to a file outside the scanned folder;"
        " version not written"
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux only")
def test_names_that_are_not_utf8_are_reported(tmp_path: Path) -> None:
    """Undecodable file and folder names are problems, shown on one line."""
    tree(tmp_path, "acme/app/1.0/a", "acme/app/2.0/a")
    open(os.path.join(os.fsencode(tmp_path), b"acme/app/1.0/caf\xe9"), "wb").close()
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"acme/\xff/1.0"))
    open(os.path.join(os.fsencode(tmp_path), b"acme/\xff/1.0/x"), "wb").close()
    items = run(tmp_path)
    assert keys(items) == [("acme", "app", "2.0")]
    assert problems(items) == [
        "'acme/app/1.0/caf\\udce9': the name is not valid UTF-8; version not written",
        "'acme/\\udcff/': the name is not valid UTF-8; 1 file skipped",
    ]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_folders_are_reported(tmp_path: Path) -> None:
    """An unlistable folder is reported; inside a version, it keeps that version out."""
    tree(tmp_path, "acme/app/1.0/a", "acme/app/1.0/locked/b", "acme/app/2.0/a", "acme/shut/1/a")
    locked = [tmp_path / "acme/app/1.0/locked", tmp_path / "acme/shut"]
    for folder in locked:
        folder.chmod(0)
    try:
        items = run(tmp_path)
    finally:
        for folder in locked:
            folder.chmod(0o755)
    assert keys(items) == [("acme", "app", "2.0")]
    assert problems(items) == [
        "acme/app/1.0/locked/: cannot be read (Permission denied); version not written",
        "acme/shut/: cannot be read (Permission denied); skipped",
    ]


def test_problem_string_is_path_then_message() -> None:
    """str(ScanProblem) is `path: message`; a path with control characters is escaped."""
    assert str(ScanProblem("a/b", "bad")) == "a/b: bad"
    assert str(ScanProblem("a\tb", "bad")) == "'a\\tb': bad"


# --- Arguments --------------------------------------------------------------------------


def test_namespace_rules(tmp_path: Path) -> None:
    """A layout without {namespace} needs a valid one; a layout with it refuses a second one."""
    no_namespace = Layout.parse("{package}/{version}")
    with pytest.raises(ValueError, match="has no \\{namespace\\}: give the namespace"):
        scan(tmp_path, layout=no_namespace, output_dir=tmp_path)
    with pytest.raises(ValueError, match="namespace 'a b' does not match"):
        scan(tmp_path, layout=no_namespace, output_dir=tmp_path, namespace="a b")
    with pytest.raises(ValueError, match="gives the namespace"):
        scan(tmp_path, layout=DEFAULT, output_dir=tmp_path, namespace="acme")


def test_root_must_be_a_folder(tmp_path: Path) -> None:
    """Scanning a file or a missing path fails at once."""
    tree(tmp_path, "file")
    for root in (tmp_path / "file", tmp_path / "missing"):
        with pytest.raises(NotADirectoryError):
            scan(root, layout=DEFAULT, output_dir=tmp_path)


# --- Output -----------------------------------------------------------------------------


def test_paths_are_relative_to_the_output_folder_or_absolute(tmp_path: Path) -> None:
    """Paths are relative to output_dir when below it, absolute otherwise."""
    root = tree(tmp_path / "export", "acme/app/1.0/a")
    assert paths(run(root, output_dir=tmp_path)) == ["export/acme/app/1.0/a"]
    assert paths(run(root, output_dir=root / "acme")) == ["app/1.0/a"]
    absolute = str((root / "acme/app/1.0/a").resolve())
    assert paths(run(root, output_dir=tmp_path / "elsewhere")) == [absolute]
    assert paths(run(root, output_dir=tmp_path / "export2")) == [absolute]  # not a prefix match


def test_ignored_files_are_not_taken(tmp_path: Path) -> None:
    """The manifest being written into the tree is neither an asset nor a problem."""
    root = tree(tmp_path, "acme/app/1.0/a", "manifest.jsonl", "acme/app/1.0/m.jsonl")
    items = run(root, ignore_files=[root / "manifest.jsonl", root / "acme/app/1.0/m.jsonl"])
    assert paths(items) == ["acme/app/1.0/a"]
    assert problems(items) == []


def test_write_jsonl_writes_one_line_per_version(tmp_path: Path) -> None:
    """write_jsonl writes a compact JSON line per version and counts versions, assets, problems."""
    root = tree(tmp_path, "acme/app/1.0/a", "acme/app/1.0/b", "acme/lib/é/c", "stray")
    out = io.StringIO()
    seen: list[ScanProblem] = []
    totals = write_jsonl(scan(root, layout=DEFAULT, output_dir=root), out, on_problem=seen.append)
    assert totals == ScanTotals(versions=2, assets=3, problems=1)
    assert [str(p) for p in seen] == [
        "stray: a file where layout '{namespace}/{package}/{version}/'"
        " expects a folder '{namespace}'"
    ]
    lines = out.getvalue().splitlines()
    assert lines[1] == (
        '{"namespace":"acme","package":"lib","version":"é","assets":[{"path":"acme/lib/é/c","name":"c"}]}'
    )
    assert [json.loads(line)["version"] for line in lines] == ["1.0", "é"]


def test_order_is_by_values_and_output_is_deterministic(tmp_path: Path) -> None:
    """Versions come sorted by (namespace, package, version) values, the same on every run."""
    root = tree(
        tmp_path,
        "b/app/a-bin/x",
        "b/app/a!-bin/x",  # '!' sorts before '-': by folder name a!-bin would come first
        "a/zed/1.10-bin/x",
        "a/zed/1.9-bin/x",
        "a/app/2-bin/x",
    )
    layout = Layout.parse("{namespace}/{package}/{version}-bin")
    first = jsonl(scan(root, layout=layout, output_dir=root))
    assert first == jsonl(scan(root, layout=layout, output_dir=root))
    assert [
        tuple(json.loads(line)[k] for k in ("namespace", "package", "version"))
        for line in first.splitlines()
    ] == [
        ("a", "app", "2"),
        ("a", "zed", "1.10"),
        ("a", "zed", "1.9"),
        ("b", "app", "a"),
        ("b", "app", "a!"),
    ]


def test_scan_memory_does_not_grow_with_the_tree(tmp_path: Path) -> None:
    """Scanning 2,000 versions peaks far below what holding them all would take (tracemalloc)."""
    for package in range(40):
        for version in range(50):
            folder = tmp_path / "acme" / f"package-{package:02}" / f"{version}.0.0"
            folder.mkdir(parents=True)
            for name in ("app.tar.gz", "app.tar.gz.sha256"):
                (folder / name).touch()
    tracemalloc.start()
    try:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            totals = write_jsonl(
                scan(tmp_path, layout=DEFAULT, output_dir=tmp_path), sink, on_problem=print
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert totals == ScanTotals(versions=2000, assets=4000, problems=0)
    # the 2,000 versions written are ~300 kB of JSON; the scan holds one version at a time
    assert peak < 256 * 1024, f"peak {peak} bytes"


def test_round_trip_through_read_manifest(tmp_path: Path) -> None:
    """A manifest written into the tree reads back as one VersionSpec per version, same files."""
    root = tmp_path / "export"
    expected: dict[tuple[str, str], dict[str, Path]] = {}
    for index in range(50):
        namespace, package = f"team-{index % 3}", f"package.{index:02}"
        for version in ("1.0.0", f"2.{index}"):
            files = {
                f"{package}-{version}.tgz": f"{package}-{version}.tgz",
                "notes.txt": "notes.txt",
            }
            if index % 5 == 0:  # two files named alike: named by their paths below the version
                files = {
                    "linux/app": "linux_app",
                    "mac/app": "mac_app",
                    "docs/read me.md": "read me.md",
                }
            folder = root / namespace / package / version
            for rel in files:
                tree(folder, rel)
            expected[(package, version)] = {
                name: (folder / rel).resolve() for rel, name in files.items()
            }
    manifest = root / "manifest.jsonl"
    with manifest.open("w", encoding="utf-8") as out:
        items = scan(root, layout=DEFAULT, output_dir=root, ignore_files=[manifest])
        totals = write_jsonl(items, out, on_problem=lambda problem: pytest.fail(str(problem)))
    assert totals.versions == 100
    read = list(read_manifest(manifest, defaults={"domain": "d-1", "repository": "r1"}))
    assert not [item for item in read if isinstance(item, Problem)]
    specs = [item for item in read if isinstance(item, VersionSpec)]
    assert len(specs) == 100
    for spec in specs:
        assert (spec.domain, spec.repository) == ("d-1", "r1")
        assert spec.namespace == f"team-{int(spec.package[-2:]) % 3}"
        assert {a.name: a.path for a in spec.assets} == expected[(spec.package, spec.version)]
