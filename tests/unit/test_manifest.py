"""The manifest reader: formats, defaults, every validation rule with its place, streaming."""

from __future__ import annotations

import io
import json
import os
import re
import textwrap
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uploader import constants as c
from uploader.manifest import (
    MAX_LINE_BYTES,
    AssetSpec,
    Place,
    Problem,
    TargetStatus,
    VersionSpec,
    count_entries,
    read_manifest,
)
from uploader.names import (
    check_account_id,
    check_asset_name,
    check_domain,
    check_package_part,
    check_repository,
    check_sha256,
)

TARGET = {"domain": "my-domain", "repository": "my-repo", "namespace": "acme"}
SHA = "ab" * 32
TAB_NAME = "a\tb"
DROP = object()  # entry(field=DROP) leaves the field out; None writes a JSON null

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cwd, holding dist/app.tar.gz and dist/app.sha256, so places name files relatively."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app.tar.gz").write_bytes(b"tarball")
    (tmp_path / "dist" / "app.sha256").write_bytes(b"sums")
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def jsonl(folder: Path, name: str, *entries: object) -> Path:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in entries]
    path = folder / name
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def messages(items: Iterable[VersionSpec | Problem]) -> list[str]:
    return [str(item) for item in items if isinstance(item, Problem)]


def specs(items: Iterable[VersionSpec | Problem]) -> list[VersionSpec]:
    return [item for item in items if isinstance(item, VersionSpec)]


def entry(**fields: object) -> dict[str, object]:
    """A valid JSON Lines entry, with fields replaced (or left out when DROP)."""
    base: dict[str, object] = {
        **TARGET,
        "package": "app",
        "version": "1.0",
        "assets": [{"path": "dist/app.tar.gz"}],
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not DROP}


def one_line_problems(folder: Path, line: object, **kwargs: Any) -> list[str]:
    """Write `line` as folder/m.jsonl and read it back by its path relative to the cwd."""
    path = jsonl(folder, "m.jsonl", line)
    return [str(item) for item in read_manifest(os.path.relpath(path), **kwargs)]


def asset(here: Path, name: str, line: int, field: str, sha256: str | None = None) -> AssetSpec:
    path = (here / "dist" / name).resolve()
    return AssetSpec(name, path, sha256, Place("m.yaml", line, field))


# --- Model ------------------------------------------------------------------------------


def test_place_and_problem_strings() -> None:
    """A place reads file:line: field; line 0 and an empty field are left out."""
    place = Place("manifest.yaml", 14, "versions[3].assets[0].path")
    assert str(place) == "manifest.yaml:14: versions[3].assets[0].path"
    assert str(Problem(place, "file not found")) == (
        "manifest.yaml:14: versions[3].assets[0].path: file not found"
    )
    assert str(Place("m.jsonl", 3, "")) == "m.jsonl:3"
    assert str(Place("<defaults>", 0, "domain")) == "<defaults>: domain"
    assert str(Place("m.yaml", 0, "")) == "m.yaml"


def test_target_status_values() -> None:
    """The three target statuses are spelled as the service spells them."""
    assert [str(s) for s in TargetStatus] == ["Published", "Unlisted", "Unfinished"]


# --- Happy paths ------------------------------------------------------------------------


def test_yaml_manifest_merges_caller_file_and_entry_fields(here: Path) -> None:
    """Caller defaults < file defaults < entry; names default to base names; hashes lower-case."""
    write(
        here,
        "m.yaml",
        f"""
        defaults:
          domain_owner: "111122223333"
          repository: file-repo
          namespace: acme
          status: Unlisted
        versions:
          - package: app
            version: 1.2.3
            assets:
              - path: dist/app.tar.gz
              - {{path: dist/app.sha256, name: checksums.txt, sha256: "{SHA.upper()}"}}
          - package: lib
            version: "2.0"
            namespace: other
            status: Unfinished
            assets: [{{path: ./dist/../dist/app.tar.gz}}]
        """,
    )
    caller = {"domain": "caller-domain", "repository": "caller-repo", "domain_owner": None}
    got = list(read_manifest("m.yaml", defaults=caller))
    assert got == [
        VersionSpec(
            domain="caller-domain",
            domain_owner="111122223333",
            repository="file-repo",
            namespace="acme",
            package="app",
            version="1.2.3",
            status=TargetStatus.UNLISTED,
            assets=(
                asset(here, "app.tar.gz", 10, "versions[0].assets[0]"),
                AssetSpec(
                    "checksums.txt",
                    (here / "dist" / "app.sha256").resolve(),
                    SHA,
                    Place("m.yaml", 11, "versions[0].assets[1]"),
                ),
            ),
            place=Place("m.yaml", 7, "versions[0]"),
            index=0,
        ),
        VersionSpec(
            domain="caller-domain",
            domain_owner="111122223333",
            repository="file-repo",
            namespace="other",
            package="lib",
            version="2.0",
            status=TargetStatus.UNFINISHED,
            assets=(asset(here, "app.tar.gz", 16, "versions[1].assets[0]"),),
            place=Place("m.yaml", 12, "versions[1]"),
            index=1,
        ),
    ]


def test_status_defaults_to_published_and_owner_to_none(here: Path) -> None:
    """Without status or domain_owner anywhere, a version is Published with no owner."""
    (spec,) = read_manifest(jsonl(here, "m.jsonl", entry()).name)
    assert isinstance(spec, VersionSpec)
    assert spec.status is TargetStatus.PUBLISHED
    assert spec.domain_owner is None


def test_json_manifest_gives_lines_of_entries_and_fields(here: Path) -> None:
    """A JSON manifest reads like YAML, with the line of each entry and key."""
    write(
        here,
        "m.json",
        """
        {
          "defaults": {"domain": "my-domain", "repository": "my-repo", "namespace": "acme"},
          "versions": [
            {"package": "app", "version": "1.0",
             "assets": [{"path": "dist/app.tar.gz"}]},
            {"package": "app",
             "version": 1.10,
             "assets": [{"path": "dist/app.tar.gz"}]}
          ]
        }
        """,
    )
    got = list(read_manifest("m.json"))
    assert isinstance(got[0], VersionSpec)
    assert got[0].place == Place("m.json", 4, "versions[0]")
    assert got[0].assets[0].place == Place("m.json", 5, "versions[0].assets[0]")
    assert messages(got) == [
        "m.json:7: versions[1].version: must be a string, not float (quote it)"
    ]


def test_jsonl_manifest_skips_blank_lines_and_numbers_entries(here: Path) -> None:
    """JSON Lines: one entry per non-blank line; the place is the line, the index the entry."""
    jsonl(here, "m.jsonl", entry(version="1"), "", "   ", entry(version="2"))
    got = list(read_manifest("m.jsonl", defaults={"domain": "ignored-by-entry"}))
    assert [(s.version, s.index, s.place) for s in specs(got)] == [
        ("1", 0, Place("m.jsonl", 1, "")),
        ("2", 1, Place("m.jsonl", 4, "")),
    ]
    assert all(s.domain == "my-domain" for s in specs(got))
    assert specs(got)[0].assets[0].place == Place("m.jsonl", 1, "assets[0]")


def test_ndjson_extension_is_json_lines(here: Path) -> None:
    """`.ndjson` is read as JSON Lines."""
    jsonl(here, "m.ndjson", entry())
    assert len(specs(read_manifest("m.ndjson"))) == 1


def test_caller_defaults_fill_jsonl_entries(here: Path) -> None:
    """JSON Lines entries take missing fields from the caller's defaults."""
    jsonl(here, "m.jsonl", entry(domain=DROP, repository=DROP, namespace=DROP))
    (spec,) = read_manifest("m.jsonl", defaults=TARGET)
    assert isinstance(spec, VersionSpec)
    assert (spec.domain, spec.repository, spec.namespace) == ("my-domain", "my-repo", "acme")


def test_stdin_is_json_lines_relative_to_base_dir(
    here: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-` reads JSON Lines from the given stream; paths start at base_dir; places say <stdin>."""
    stream = io.StringIO("\n" + json.dumps(entry()) + "\n" + json.dumps(entry(version=1)) + "\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    got = list(read_manifest("-", stdin=stream, base_dir=here))
    assert [s.assets[0].path for s in specs(got)] == [(here / "dist/app.tar.gz").resolve()]
    assert specs(got)[0].place == Place("<stdin>", 2, "")
    assert messages(got) == ["<stdin>:3: version: must be a string, not integer (quote it)"]


def test_stdin_defaults_to_the_current_directory(here: Path) -> None:
    """Without base_dir, stdin paths are relative to, and confined to, the current directory."""
    stream = io.StringIO(json.dumps(entry()) + "\n" + json.dumps(entry(assets=[{"path": "/"}])))
    got = list(read_manifest("-", stdin=stream))
    assert specs(got)[0].assets[0].path == (here / "dist/app.tar.gz").resolve()
    assert messages(got) == [
        f"<stdin>:2: assets[0].path: path escapes the base directory {here.resolve()}"
        " (use --allow-outside to permit it)"
    ]


def test_stdin_bad_utf8_from_surrogateescape_is_a_problem_per_line(here: Path) -> None:
    """Undecodable bytes on stdin (surrogateescape) spoil only their own line."""
    raw = b'{"bad": "\xff"}\n' + json.dumps(entry()).encode() + b"\n"
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    got = list(read_manifest("-", stdin=stream))
    assert messages(got) == ["<stdin>:1: not valid UTF-8"]
    assert len(specs(got)) == 1


def test_stdin_strict_decoding_error_ends_the_stream_with_a_problem(here: Path) -> None:
    """A strict stdin that cannot decode ends reading with one problem, not a traceback."""
    raw = json.dumps(entry()).encode() + b"\n" + b"\xff" * 10_000
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    *_, last = read_manifest("-", stdin=stream)
    assert isinstance(last, Problem)
    assert re.match(r"<stdin>:[12]: cannot read further: 'utf-8' codec", str(last)), str(last)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("m.txt", json.dumps(entry()) + "\n", "jsonl"),
        ("m", "\n\n" + json.dumps(entry()) + "\n", "jsonl"),
        ("m.txt", "defaults: {domain: my-domain}\nversions: []\n", "yaml"),
        ("m.txt", json.dumps({"versions": [entry()]}) + "\n", "yaml"),
        ("m.txt", '{\n  "versions": []\n}\n', "yaml"),
    ],
)
def test_unknown_extension_is_sniffed(here: Path, name: str, text: str, expected: str) -> None:
    """Unknown extensions: a one-line `{...}` entry first means JSON Lines, anything else YAML."""
    (here / name).write_text(text, encoding="utf-8")
    got = list(read_manifest(name))
    assert messages(got) == []
    assert count_entries(name) == (1 if expected == "jsonl" else None)


# --- Validation rules, one JSON Lines entry each ---------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"domain": "My_Domain"}, f"domain: {check_domain('My_Domain')}"),
        ({"domain_owner": "1234"}, f"domain_owner: {check_account_id('1234')}"),
        ({"domain_owner": 111122223333}, "domain_owner: must be a string, not integer (quote it)"),
        ({"repository": "-repo"}, f"repository: {check_repository('-repo')}"),
        ({"namespace": "a/b"}, f"namespace: {check_package_part('a/b')}"),
        ({"package": "my app"}, f"package: {check_package_part('my app')}"),
        ({"package": ""}, f"package: {check_package_part('')}"),
        ({"version": "1#2"}, f"version: {check_package_part('1#2')}"),
        ({"version": 1.1}, "version: must be a string, not float (quote it)"),
        ({"version": 2}, "version: must be a string, not integer (quote it)"),
        ({"version": True}, "version: must be a string, not boolean (quote it)"),
        ({"version": None}, "version: must be a string, not null"),
        ({"domain_owner": None}, "domain_owner: must be a string, not null"),
        ({"version": ["1"]}, "version: must be a string, not list"),
        ({"version": {"a": 1}}, "version: must be a string, not mapping"),
        (
            {"status": "Deleted"},
            "status: must be one of Published, Unlisted, Unfinished, not 'Deleted'",
        ),
        (
            {"status": "published"},
            "status: must be one of Published, Unlisted, Unfinished, not 'published'",
        ),
        ({"assets": []}, "assets: must not be empty: a version needs at least one asset"),
        ({"assets": "dist/app.tar.gz"}, "assets: must be a list of assets, not string"),
        ({"assets": ["dist/app.tar.gz"]}, "assets[0]: must be a mapping with a `path`, not string"),
        ({"assets": [{"name": "x"}]}, "assets[0].path: is required"),
        ({"assets": [{"path": 7}]}, "assets[0].path: must be a string, not integer (quote it)"),
        ({"assets": [{"path": ""}]}, "assets[0].path: must not be empty"),
        ({"assets": [{"path": "dist/nope"}]}, "assets[0].path: file not found"),
        ({"assets": [{"path": "dist/app.tar.gz/x"}]}, "assets[0].path: file not found"),
        ({"assets": [{"path": "dist"}]}, "assets[0].path: is a directory, not a file"),
        ({"assets": [{"path": "dist/"}]}, "assets[0].path: is a directory, not a file"),
        (
            {"assets": [{"path": "a\x00b"}]},
            "assets[0].path: is not a usable path (embedded null byte)",
        ),
        (
            {"assets": [{"path": "dist/app.tar.gz", "name": TAB_NAME}]},
            f"assets[0].name: {check_asset_name(TAB_NAME)}",
        ),
        (
            {"assets": [{"path": "dist/app.tar.gz", "name": ""}]},
            f"assets[0].name: {check_asset_name('')}",
        ),
        (
            {"assets": [{"path": "dist/app.tar.gz", "sha256": "xyz"}]},
            f"assets[0].sha256: {check_sha256('xyz')}",
        ),
        (
            {"assets": [{"path": "dist/app.tar.gz", "pth": "x"}]},
            "assets[0].pth: unknown key 'pth' (did you mean 'path'?)",
        ),
        ({"pakage": "app"}, "pakage: unknown key 'pakage' (did you mean 'package'?)"),
        ({"zzz": 1}, "zzz: unknown key 'zzz'"),
        ({"namespace": DROP}, "namespace: is required: generic packages need a namespace"),
        ({"domain": DROP}, "domain: is required"),
        ({"repository": DROP}, "repository: is required"),
        ({"package": DROP}, "package: is required"),
        ({"version": DROP}, "version: is required"),
        ({"assets": DROP}, "assets: is required: a version needs at least one asset"),
    ],
)
def test_each_rule_reports_its_field(here: Path, fields: dict[str, object], expected: str) -> None:
    """Each broken rule is one problem at `file:line: field`, and the entry yields no spec."""
    assert one_line_problems(here, entry(**fields)) == [f"m.jsonl:1: {expected}"]


def test_all_problems_of_an_entry_are_reported(here: Path) -> None:
    """An entry with several faults yields them all, in order, and no spec."""
    line = entry(domain="X", package="a b", assets=[{"path": "dist/nope", "sha256": "1"}])
    assert one_line_problems(here, line) == [
        f"m.jsonl:1: domain: {check_domain('X')}",
        f"m.jsonl:1: package: {check_package_part('a b')}",
        "m.jsonl:1: assets[0].path: file not found",
        f"m.jsonl:1: assets[0].sha256: {check_sha256('1')}",
    ]


def test_sha256_is_lower_cased_before_checking(here: Path) -> None:
    """An upper-case SHA-256 is accepted and stored lower-case."""
    (spec,) = read_manifest(
        jsonl(
            here, "m.jsonl", entry(assets=[{"path": "dist/app.tar.gz", "sha256": SHA.upper()}])
        ).name
    )
    assert isinstance(spec, VersionSpec)
    assert spec.assets[0].sha256 == SHA


def test_duplicate_key_in_json_is_reported(here: Path) -> None:
    """A key given twice in one object is a problem (JSON would keep only the last)."""
    line = json.dumps(entry())[:-1] + ', "version": "2.0"}'
    assert one_line_problems(here, line) == ["m.jsonl:1: version: is given twice"]


def test_duplicate_asset_names_name_both_indexes(here: Path) -> None:
    """Two assets with one name: the second is reported, naming the first."""
    assets = [
        {"path": "dist/app.tar.gz"},
        {"path": "dist/app.sha256", "name": "other"},
        {"path": "dist/app.sha256", "name": "app.tar.gz"},
    ]
    assert one_line_problems(here, entry(assets=assets)) == [
        "m.jsonl:1: assets[2].name: duplicate asset name 'app.tar.gz' (also assets[0])"
    ]


def test_the_same_file_under_two_names_is_fine(here: Path) -> None:
    """Uniqueness is about names, not files."""
    assets = [{"path": "dist/app.tar.gz"}, {"path": "dist/app.tar.gz", "name": "copy.tgz"}]
    (spec,) = read_manifest(jsonl(here, "m.jsonl", entry(assets=assets)).name)
    assert isinstance(spec, VersionSpec)
    assert [a.name for a in spec.assets] == ["app.tar.gz", "copy.tgz"]


def test_at_most_150_assets(here: Path) -> None:
    """150 assets are accepted; 151 are refused with one problem."""
    many = [{"path": "dist/app.tar.gz", "name": f"a{i}"} for i in range(c.MAX_ASSETS_PER_VERSION)]
    (spec,) = read_manifest(jsonl(here, "m.jsonl", entry(assets=many)).name)
    assert isinstance(spec, VersionSpec)
    assert len(spec.assets) == 150
    too_many = [*many, {"path": "dist/app.tar.gz"}]
    assert one_line_problems(here, entry(assets=too_many)) == [
        "m.jsonl:1: assets: has 151 assets; a version takes at most 150"
    ]


def test_good_entries_still_come_after_bad_ones(here: Path) -> None:
    """Bad lines yield problems; the valid entries around them still yield specs, in order."""
    jsonl(
        here, "m.jsonl", entry(version="1"), "[1, 2]", "{oops", entry(version=3), entry(version="4")
    )
    got = list(read_manifest("m.jsonl"))
    assert [s.version if isinstance(s, VersionSpec) else str(s) for s in got] == [
        "1",
        "m.jsonl:2: must be a JSON object (one version per line), not list",
        "m.jsonl:3: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        "m.jsonl:4: version: must be a string, not integer (quote it)",
        "4",
    ]
    assert [s.index for s in specs(got)] == [0, 4]


# --- Paths ------------------------------------------------------------------------------


def test_relative_paths_start_at_the_manifest_folder(here: Path) -> None:
    """Asset paths are relative to the manifest's folder, not the working directory."""
    sub = here / "sub"
    sub.mkdir()
    (sub / "file.bin").write_bytes(b"x")
    jsonl(sub, "m.jsonl", entry(assets=[{"path": "file.bin"}]))
    (spec,) = read_manifest("sub/m.jsonl")
    assert isinstance(spec, VersionSpec)
    assert spec.assets[0].path == (sub / "file.bin").resolve()
    assert spec.assets[0].path.is_absolute()


@pytest.mark.parametrize("path", ["../outside.bin", "OUTSIDE"])
def test_paths_may_not_escape_the_base_directory(here: Path, path: str) -> None:
    """Relative and absolute paths outside the base folder are refused unless allowed."""
    outside = here / "outside.bin"
    outside.write_bytes(b"x")
    sub = here / "sub"
    sub.mkdir()
    written = str(outside) if path == "OUTSIDE" else path
    jsonl(sub, "m.jsonl", entry(assets=[{"path": written}]))
    assert messages(read_manifest("sub/m.jsonl")) == [
        f"sub/m.jsonl:1: assets[0].path: path escapes the base directory {sub.resolve()}"
        " (use --allow-outside to permit it)"
    ]
    (spec,) = read_manifest("sub/m.jsonl", allow_outside=True)
    assert isinstance(spec, VersionSpec)
    assert spec.assets[0].path == outside.resolve()


def test_base_dir_widens_the_allowed_area(here: Path) -> None:
    """With base_dir a parent folder, paths reaching into it are fine."""
    sub = here / "sub"
    sub.mkdir()
    jsonl(sub, "m.jsonl", entry(assets=[{"path": "../dist/app.tar.gz"}]))
    assert len(specs(read_manifest("sub/m.jsonl", base_dir=here))) == 1


def test_symlink_rule_applies_to_the_target(here: Path) -> None:
    """A link inside pointing outside is refused; the spec holds the link's target and name."""
    outside = here.parent / f"{here.name}-outside.bin"
    outside.write_bytes(b"x")
    sub = here / "sub"
    sub.mkdir()
    (sub / "out.bin").symlink_to(outside)
    (sub / "in.bin").symlink_to(here / "dist" / "app.tar.gz")
    (sub / "dir-link").symlink_to(here / "dist")
    assert one_line_problems(sub, entry(assets=[{"path": "out.bin"}]), base_dir=here) == [
        f"sub/m.jsonl:1: assets[0].path: path escapes the base directory {here.resolve()}"
        " (use --allow-outside to permit it)"
    ]
    assets = [{"path": "in.bin"}, {"path": "dir-link/app.sha256"}]
    jsonl(sub, "m.jsonl", entry(assets=assets))
    (spec,) = read_manifest("sub/m.jsonl", base_dir=here)
    assert isinstance(spec, VersionSpec)
    assert [(a.name, a.path) for a in spec.assets] == [
        ("in.bin", (here / "dist" / "app.tar.gz").resolve()),
        ("app.sha256", (here / "dist" / "app.sha256").resolve()),
    ]


def test_dangling_symlink_and_loop_are_problems(here: Path) -> None:
    """A dangling link is a missing file; a link loop is a readable problem, not a traceback."""
    (here / "dangling").symlink_to(here / "nowhere")
    (here / "loop-a").symlink_to(here / "loop-b")
    (here / "loop-b").symlink_to(here / "loop-a")
    assets = [{"path": "dangling"}, {"path": "loop-a"}]
    got = one_line_problems(here, entry(assets=assets))
    assert got[0] == "m.jsonl:1: assets[0].path: file not found"
    assert got[1].startswith("m.jsonl:1: assets[1].path: ")
    assert len(got) == 2


def test_fifo_is_not_a_regular_file(here: Path) -> None:
    """Special files are refused: uploads need a regular file to hash and send."""
    os.mkfifo(here / "pipe")
    assert one_line_problems(here, entry(assets=[{"path": "pipe"}])) == [
        "m.jsonl:1: assets[0].path: is not a regular file"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_permission_denied(here: Path) -> None:
    """A file the user cannot read is reported as such."""
    secret = here / "secret.bin"
    secret.write_bytes(b"x")
    secret.chmod(0)
    assert one_line_problems(here, entry(assets=[{"path": "secret.bin"}])) == [
        "m.jsonl:1: assets[0].path: permission denied"
    ]


def test_check_files_false_skips_file_checks_but_not_the_escape_rule(here: Path) -> None:
    """Without file checks a missing file is fine; escaping the base folder still is not."""
    jsonl(
        here, "m.jsonl", entry(assets=[{"path": "later/made.bin"}]), entry(assets=[{"path": "/x"}])
    )
    got = list(read_manifest("m.jsonl", check_files=False))
    assert specs(got)[0].assets[0].path == (here / "later" / "made.bin").resolve()
    assert len(messages(got)) == 1
    assert "path escapes the base directory" in messages(got)[0]


# --- YAML specifics -----------------------------------------------------------------------

YAML_TWO = """
defaults:
  domain: my-domain
  repository: my-repo
  namespace: acme
versions:
  - package: app
    version: "1.0"
    assets: [{{path: dist/app.tar.gz}}]
  - package: app
    version: {version}
    assets:
      - path: {path}
"""


def test_yaml_place_strings_carry_line_and_field(here: Path) -> None:
    """A YAML problem names its line and the full field path within the manifest."""
    write(here, "m.yaml", YAML_TWO.format(version='"2.0"', path="dist/missing.bin"))
    got = list(read_manifest("m.yaml"))
    assert messages(got) == ["m.yaml:12: versions[1].assets[0].path: file not found"]
    assert len(specs(got)) == 1


@pytest.mark.parametrize(
    ("version", "kind"),
    [("1.10", "float"), ("1", "integer"), ("yes", "boolean"), ("2024-01-02", "date"), ("", "null")],
)
def test_yaml_non_string_versions_are_refused(here: Path, version: str, kind: str) -> None:
    """YAML numbers, booleans and dates are refused, never silently turned into text."""
    write(here, "m.yaml", YAML_TWO.format(version=version, path="dist/app.tar.gz"))
    hint = "" if kind == "null" else " (quote it in YAML)"
    assert messages(read_manifest("m.yaml")) == [
        f"m.yaml:10: versions[1].version: must be a string, not {kind}{hint}"
    ]


def test_yaml_huge_and_tagged_values_are_problems(here: Path) -> None:
    """Values no constructor can build (huge ints, unknown tags) are problems at their field."""
    write(here, "m.yaml", YAML_TWO.format(version="1" * 5000, path="!custom dist/app.tar.gz"))
    assert messages(read_manifest("m.yaml")) == [
        "m.yaml:10: versions[1].version: must be a string, not integer (quote it in YAML)",
        "m.yaml:12: versions[1].assets[0].path: must be a string, not tagged !custom"
        " (quote it in YAML)",
    ]


def test_yaml_missing_fields_are_placed_at_the_entry(here: Path) -> None:
    """A missing field is reported at the line where its entry starts."""
    write(
        here,
        "m.yaml",
        """
        versions:
          - domain: my-domain
            repository: my-repo
            package: app
            version: "1"
            assets: [{path: dist/app.tar.gz}]
        """,
    )
    assert messages(read_manifest("m.yaml")) == [
        "m.yaml:2: versions[0].namespace: is required: generic packages need a namespace"
    ]


def test_yaml_defaults_problems_are_reported_once_and_stop(here: Path) -> None:
    """Invalid defaults are reported once, at their own place, and no entry is read."""
    write(
        here,
        "m.yaml",
        """
        defaults:
          domain: Not_Valid
          status: Done
        versions:
          - {package: app, version: "1", namespace: n, repository: rr, assets: [{path: x}]}
          - {package: app, version: "2", namespace: n, repository: rr, assets: [{path: x}]}
        """,
    )
    assert messages(read_manifest("m.yaml")) == [
        f"m.yaml:2: defaults.domain: {check_domain('Not_Valid')}",
        "m.yaml:3: defaults.status: must be one of Published, Unlisted, Unfinished, not 'Done'",
    ]


def test_assets_in_defaults_are_shared_and_replaced_by_the_entry(here: Path) -> None:
    """Assets may sit in defaults; an entry's own assets replace them."""
    write(
        here,
        "m.yaml",
        """
        defaults:
          domain: my-domain
          repository: my-repo
          namespace: acme
          assets: [{path: dist/app.sha256}]
        versions:
          - {package: a, version: "1"}
          - {package: b, version: "1", assets: [{path: dist/app.tar.gz}]}
        """,
    )
    got = specs(read_manifest("m.yaml"))
    assert [[a.name for a in s.assets] for s in got] == [["app.sha256"], ["app.tar.gz"]]


def test_caller_defaults_problems_are_named_after_the_caller(here: Path) -> None:
    """Bad caller defaults are reported as `<defaults>: field: reason` and stop the read."""
    jsonl(here, "m.jsonl", entry())
    got = list(read_manifest("m.jsonl", defaults={"domain": "X", "colour": "red"}))
    assert messages(got) == [
        f"<defaults>: domain: {check_domain('X')}",
        "<defaults>: colour: unknown key 'colour'",
    ]
    assert specs(got) == []


def test_yaml_unknown_top_level_key_is_reported_and_reading_goes_on(here: Path) -> None:
    """A typo at the top level is a problem; the versions are still read."""
    text = YAML_TWO.format(version='"2"', path="dist/app.tar.gz") + "defualts: {}\n"
    write(here, "m.yaml", text)
    got = list(read_manifest("m.yaml"))
    assert messages(got) == [
        "m.yaml:13: defualts: unknown key 'defualts' (did you mean 'defaults'?)"
    ]
    assert len(specs(got)) == 2


def test_yaml_merge_keys_are_refused(here: Path) -> None:
    """`<<` merge keys are refused with a pointer to `defaults`."""
    write(
        here,
        "m.yaml",
        """
        base: &base {domain: my-domain}
        versions:
          - <<: *base
            package: app
        """,
    )
    got = messages(read_manifest("m.yaml"))
    assert (
        "m.yaml:3: versions[0].<<: YAML merge keys ('<<') are not supported; use `defaults`" in got
    )


def test_yaml_alias_bomb_is_not_expanded(here: Path) -> None:
    """Aliases in unknown keys are not walked, so a billion-laughs document stays cheap."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["versions:", "  - {junk: *a8, more: *a8}"]
    write(here, "m.yaml", "\n".join(lines) + "\n")
    got = messages(read_manifest("m.yaml"))
    assert "m.yaml:11: versions[0].junk: unknown key 'junk'" in got


# --- File-level problems ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("m.yaml", "versions:\n  - a: [\n", "m.yaml:3: not valid YAML: while parsing a flow node;"),
        (
            "m.yaml",
            "a: b\n  c: d\n",
            "m.yaml:2: not valid YAML: mapping values are not allowed",
        ),
        ("m.yaml", "---\na: 1\n---\nb: 2\n", "m.yaml:3: not valid YAML: "),
        (
            "m.yaml",
            "- a\n- b\n",
            "m.yaml:1: the manifest must be a mapping with a `versions` list, not list",
        ),
        (
            "m.yaml",
            "just text\n",
            "m.yaml:1: the manifest must be a mapping with a `versions` list, not string",
        ),
        ("m.yaml", "defaults: {}\n", "m.yaml:1: versions: is required: the list of versions"),
        ("m.yaml", "\n\nversions: 3\n", "m.yaml:3: versions: must be a list, not integer"),
        ("m.yaml", "versions:\n", "m.yaml:1: versions: must be a list, not null"),
        (
            "m.yaml",
            "defaults: [1]\nversions: []\n",
            "m.yaml:1: defaults: must be a mapping of version fields, not list",
        ),
        ("m.yaml", "a: 1\nb: \x00\n", "m.yaml:2: not valid YAML: unacceptable character #x0000"),
        (
            "m.json",
            '{"versions": [\n  {"a": 1},\n  {"b": 2,}\n]}\n',
            "m.json:3: not valid JSON: Expecting property name",
        ),
        ("m.json", '{"versions": []}\n{}\n', "m.json:2: not valid JSON: Extra data (column 1)"),
        (
            "m.json",
            "[\n1,\n2\n]",
            "m.json:1: the manifest must be a mapping with a `versions` list, not list",
        ),
        ("m.json", "[" * 5000 + "]" * 5000, "m.json:1: not valid JSON: nested too deeply"),
        ("m.yaml", "[" * 5000 + "]" * 5000, "m.yaml:1: not valid YAML: "),
    ],
)
def test_file_level_problems_stop_with_one_problem(
    here: Path, name: str, content: str, expected: str
) -> None:
    """A broken file yields exactly one problem with the parser's line, and nothing else."""
    (here / name).write_text(content, encoding="utf-8")
    got = [str(item) for item in read_manifest(name)]
    assert len(got) == 1, got
    assert got[0].startswith(expected)


def test_missing_and_directory_manifests_are_problems(here: Path) -> None:
    """A manifest that cannot be opened is one problem naming the file, with no line."""
    assert [str(p) for p in read_manifest("nope.yaml")] == [
        "nope.yaml: cannot read the manifest: No such file or directory"
    ]
    assert [str(p) for p in read_manifest("nope.jsonl")] == [
        "nope.jsonl: cannot read the manifest: No such file or directory"
    ]
    assert [str(p) for p in read_manifest("dist")] == [
        "dist: cannot read the manifest: Is a directory"
    ]


def test_bad_utf8_in_yaml_names_its_line(here: Path) -> None:
    """Undecodable bytes in a YAML manifest are one problem on their line."""
    (here / "m.yaml").write_bytes(b"versions:\n  - a: \xff\n")
    assert [str(p) for p in read_manifest("m.yaml")] == ["m.yaml:2: not valid UTF-8 (byte 18)"]


def test_bom_is_accepted(here: Path) -> None:
    """A UTF-8 byte order mark at the start of a file is skipped, in every format."""
    (here / "m.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(entry()).encode() + b"\n")
    (here / "m.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"versions": [entry()]}).encode())
    assert len(specs(read_manifest("m.jsonl"))) == 1
    assert len(specs(read_manifest("m.json"))) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": "\xff"}', "m.jsonl:2: not valid UTF-8 (byte 8 of the line)"),
        (b'{"a": "x\x00"}', "m.jsonl:2: not valid JSON: Invalid control character at (column 9)"),
        (b"\x00\x00\x00", "m.jsonl:2: not valid JSON: Expecting value (column 1)"),
        (b"[" * 100_000, "m.jsonl:2: not valid JSON: nested too deeply"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "m.jsonl:2: not valid JSON: nested too deeply"),
        (
            b'{"version": ' + b"9" * 10_000 + b"}",
            "m.jsonl:2: version: must be a string, not float (quote it)",
        ),
        (b'{"version": 1e999999}', "m.jsonl:2: version: must be a string, not float (quote it)"),
        (b'{"version": NaN}', "m.jsonl:2: version: must be a string, not float (quote it)"),
        (b'"just a string"', "m.jsonl:2: must be a JSON object (one version per line), not string"),
        (b"null", "m.jsonl:2: must be a JSON object (one version per line), not null"),
    ],
)
def test_junk_jsonl_lines_are_problems(here: Path, raw: bytes, expected: str) -> None:
    """Bad UTF-8, NUL bytes, deep nesting and huge numbers are problems of their line only."""
    good = json.dumps(entry()).encode()
    other = json.dumps(entry(version="1.1")).encode()  # one version twice is a problem too
    (here / "m.jsonl").write_bytes(good + b"\n" + raw + b"\n" + other + b"\n")
    got = list(read_manifest("m.jsonl"))
    assert len(specs(got)) == 2
    assert any(m.startswith(expected) for m in messages(got)), messages(got)
    assert all(m.startswith("m.jsonl:2: ") for m in messages(got))


def test_overlong_jsonl_line_is_skipped_without_loading_it(here: Path) -> None:
    """A line over the cap is one problem; the lines after it are read normally."""
    good = json.dumps(entry()).encode()
    other = json.dumps(entry(version="1.1")).encode()
    (here / "m.jsonl").write_bytes(
        good + b"\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\n" + other + b"\n"
    )
    got = list(read_manifest("m.jsonl"))
    assert messages(got) == [f"m.jsonl:2: line is longer than {MAX_LINE_BYTES} bytes"]
    assert [s.place.line for s in specs(got)] == [1, 3]


# --- count_entries --------------------------------------------------------------------------


def test_count_entries_counts_nonblank_jsonl_lines(here: Path) -> None:
    """Entries are the non-blank lines, whatever they hold, even across read chunks."""
    big = b"x" * (1024 * 1024 + 5)
    (here / "m.jsonl").write_bytes(b"{}\n\n  \n" + big + b"\n\r\n" + big + b"\n{} ")
    assert count_entries("m.jsonl") == 4
    assert count_entries(here / "m.jsonl") == 4


def test_count_entries_is_none_where_counting_is_not_cheap(here: Path) -> None:
    """YAML, JSON, stdin and unreadable files give None."""
    write(here, "m.yaml", "versions: []\n")
    write(here, "m.json", '{"versions": []}\n')
    assert count_entries("m.yaml") is None
    assert count_entries("m.json") is None
    assert count_entries("-") is None
    assert count_entries("missing.jsonl") is None


# --- Streaming ------------------------------------------------------------------------------


def test_jsonl_streams_in_constant_memory(here: Path) -> None:
    """Reading an 8 MB JSON Lines manifest peaks under 1 MiB (tracemalloc): it streams."""
    # tracemalloc slows Python about fourfold, so the test reads 8,000 fat lines rather
    # than 200,000 thin ones: the file is ~8 MB, and a reader that loaded it whole, or kept
    # anything per entry, would peak far above the bound.
    lines = 8_000
    fat = "v" * 240
    with (here / "m.jsonl").open("w", encoding="utf-8") as out:
        for i in range(lines):
            line = entry(package=f"p{i}-{fat}", version=f"{i}-{fat}", namespace=f"n-{fat}")
            line["repository"] = "r" * 100
            out.write(json.dumps(line) + "\n")
    size = (here / "m.jsonl").stat().st_size
    tracemalloc.start()
    try:
        seen = sum(isinstance(item, VersionSpec) for item in read_manifest("m.jsonl"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == lines
    assert size > 7 * 1024 * 1024
    assert peak < 1024 * 1024, f"peak {peak} bytes"


# --- Properties -----------------------------------------------------------------------------

KNOWN_KEYS = [
    "defaults",
    "versions",
    "domain",
    "domain_owner",
    "repository",
    "namespace",
    "package",
    "version",
    "status",
    "assets",
    "path",
    "name",
    "sha256",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(["dist/app.tar.gz", "../x", "/", "Published", "my-domain"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(KNOWN_KEYS) | st.text("abcxyz_<", max_size=5), inner, max_size=5
        )
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder reused across hypothesis examples (function fixtures do not reset per example)."""
    folder = tmp_path_factory.mktemp("prop")
    (folder / "dist").mkdir()
    (folder / "dist" / "app.tar.gz").write_bytes(b"x")
    return folder


LINE_START = re.compile(r"[1-9][0-9]*: ")


def assert_only_placed_results(path: Path, results: Iterator[VersionSpec | Problem]) -> None:
    for item in results:
        assert isinstance(item, VersionSpec | Problem)
        if isinstance(item, Problem):
            text = str(item)
            assert text.startswith(f"{path}:"), text
            assert LINE_START.match(text, len(str(path)) + 1), text


@FAST
@given(data=st.binary(max_size=300), ext=st.sampled_from(["yaml", "json", "jsonl", "txt"]))
def test_arbitrary_bytes_never_raise(scratch: Path, data: bytes, ext: str) -> None:
    """Any bytes in any format give only specs and problems that start with file:line."""
    path = scratch / f"m.{ext}"
    path.write_bytes(data)
    assert_only_placed_results(path, read_manifest(path))


@FAST
@given(text=st.text(max_size=300), ext=st.sampled_from(["yaml", "json", "jsonl", "txt"]))
def test_arbitrary_text_never_raises(scratch: Path, text: str, ext: str) -> None:
    """Any text (surrogates aside) in any format gives only placed problems and specs."""
    path = scratch / f"m.{ext}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert_only_placed_results(path, read_manifest(path))


@FAST
@given(value=json_values, ext=st.sampled_from(["yaml", "json", "jsonl"]), wrap=st.booleans())
def test_structured_junk_never_raises(scratch: Path, value: object, ext: str, wrap: bool) -> None:
    """Plausible-looking documents with wrong shapes and types give only placed problems."""
    document = {"versions": [value, value]} if wrap else value
    path = scratch / f"m.{ext}"
    if ext == "yaml":
        text = yaml.safe_dump(document)
    elif ext == "json":
        text = json.dumps(document, indent=1)
    else:
        text = "\n".join(json.dumps(v) for v in (value, document))
    path.write_text(text, encoding="utf-8")
    assert_only_placed_results(path, read_manifest(path))


@FAST
@given(text=st.text(max_size=200))
def test_arbitrary_stdin_never_raises(text: str) -> None:
    """Any text on stdin gives only problems that start with `<stdin>:line`."""
    for item in read_manifest("-", stdin=io.StringIO(text), check_files=False):
        if isinstance(item, Problem):
            assert re.match(r"<stdin>:[1-9][0-9]*: ", str(item)), str(item)


names_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
).filter(lambda s: check_package_part(s) is None)
asset_names = st.text(
    st.characters(
        categories=("Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"),
        include_characters="~!@^&()-_+[]{};,. ",
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: check_asset_name(s) is None)
POOL = ["a.bin", "b.bin", "c.bin"]
LOWER, DIGITS = "abcdefghijklmnopqrstuvwxyz", "0123456789"
# Built from parts rather than st.from_regex, which is slow to draw from; test_names.py
# checks from_regex of the same patterns against the validators.
domains = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(LOWER),
        st.text(LOWER + DIGITS + "-", max_size=48),
        st.sampled_from(LOWER + DIGITS),
    ),
)
repositories = st.builds(
    str.__add__,
    st.sampled_from(LOWER + LOWER.upper() + DIGITS),
    st.text(LOWER + LOWER.upper() + DIGITS + "._-", min_size=1, max_size=99),
)
account_ids = st.text(DIGITS, min_size=12, max_size=12)
hashes = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)


@st.composite
def version_entries(draw: st.DrawFn) -> dict[str, Any]:
    """A valid JSON Lines entry: names by the service's rules, assets from a pool of files."""
    chosen = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True))
    assets: list[dict[str, str]] = []
    for path in chosen:
        item = {"path": path}
        name = draw(st.none() | asset_names)
        if name is not None:
            item["name"] = name
        if draw(st.booleans()):
            item["sha256"] = draw(hashes)
        assets.append(item)
    used = [a.get("name", a["path"]) for a in assets]
    if len(set(used)) != len(used):
        assets = [{"path": path} for path in chosen]
    fields: dict[str, Any] = {
        "domain": draw(domains),
        "repository": draw(repositories),
        "namespace": draw(names_text),
        "package": draw(names_text),
        "version": draw(names_text),
        "assets": assets,
    }
    if draw(st.booleans()):
        fields["domain_owner"] = draw(account_ids)
    if draw(st.booleans()):
        fields["status"] = draw(st.sampled_from(list(TargetStatus))).value
    return fields


def _version_key(fields: dict[str, Any]) -> tuple[object, ...]:
    """What names a version on the service: entries of one manifest must differ in it."""
    keys = ("domain", "domain_owner", "repository", "namespace", "package", "version")
    return tuple(fields.get(key) for key in keys)


def expected_spec(
    fields: dict[str, Any], folder: Path, path: Path, line: int, index: int
) -> VersionSpec:
    return VersionSpec(
        domain=fields["domain"],
        domain_owner=fields.get("domain_owner"),
        repository=fields["repository"],
        namespace=fields["namespace"],
        package=fields["package"],
        version=fields["version"],
        status=TargetStatus(fields.get("status", "Published")),
        assets=tuple(
            AssetSpec(
                a.get("name", a["path"]),
                (folder / a["path"]).resolve(),
                a["sha256"].lower() if "sha256" in a else None,
                Place(str(path), line, f"assets[{j}]"),
            )
            for j, a in enumerate(fields["assets"])
        ),
        place=Place(str(path), line, ""),
        index=index,
    )


@FAST
@given(
    entries=st.lists(version_entries(), max_size=5, unique_by=_version_key),
    blank_every=st.integers(1, 3),
)
def test_valid_entries_round_trip_through_jsonl(
    scratch: Path, entries: list[dict[str, Any]], blank_every: int
) -> None:
    """Valid entries written as JSON Lines (with blank lines) read back as equal specs."""
    for name in POOL:
        (scratch / name).write_bytes(b"x")
    path = scratch / "round.jsonl"
    lines: list[str] = []
    expected: list[VersionSpec] = []
    for index, fields in enumerate(entries):
        if index % blank_every == 0:
            lines.append("")
        lines.append(json.dumps(fields))
        expected.append(expected_spec(fields, scratch, path, len(lines), index))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert list(read_manifest(path)) == expected
    assert count_entries(path) == len(entries)


@FAST
@given(entries=st.lists(version_entries(), min_size=1, max_size=3, unique_by=_version_key))
def test_valid_entries_read_the_same_from_yaml_json_and_jsonl(
    scratch: Path, entries: list[dict[str, Any]]
) -> None:
    """The same entries give the same specs (places aside) in all three formats."""
    for name in POOL:
        (scratch / name).write_bytes(b"x")
    (scratch / "s.yaml").write_text(yaml.safe_dump({"versions": entries}), encoding="utf-8")
    (scratch / "s.json").write_text(json.dumps({"versions": entries}, indent=2), encoding="utf-8")
    (scratch / "s.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8"
    )

    def key(items: Iterable[VersionSpec | Problem]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for item in items:
            assert isinstance(item, VersionSpec), str(item)
            assets = tuple((a.name, a.path, a.sha256) for a in item.assets)
            out.append(
                (
                    item.domain,
                    item.domain_owner,
                    item.repository,
                    item.namespace,
                    item.package,
                    item.version,
                    item.status,
                    assets,
                    item.index,
                )
            )
        return out

    reference = key(read_manifest(scratch / "s.jsonl"))
    assert key(read_manifest(scratch / "s.yaml")) == reference
    assert key(read_manifest(scratch / "s.json")) == reference


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.jsonl", ""),
        ("m.jsonl", "\n  \n"),
        ("m.yaml", ""),
        ("m.yaml", "  \n\n"),
        ("m.yml", "# nothing tonight\n"),
        ("m.yaml", "versions: []\n"),
        ("m.json", ""),
        ("m.json", '{"versions": []}'),
    ],
)
def test_an_empty_manifest_is_valid_in_every_format(here: Path, name: str, content: str) -> None:
    """An empty file, or `versions: []`, holds 0 versions and no problem, in every format."""
    (here / name).write_text(content, encoding="utf-8")
    assert list(read_manifest(name)) == []


def test_validate_with_stdin_closed_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`uploader validate - <&-`: one line saying stdin is closed, exit 2, no traceback."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "uploader", "validate", "-"],
        preexec_fn=lambda: os.close(0),  # as the shell's `<&-`
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "<stdin>: cannot read the manifest: standard input is closed" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_duplicate_version_names_both_places(here: Path) -> None:
    """The second entry of one version is a problem naming its place and the first's."""
    (here / "a.bin").write_bytes(b"a")
    write(
        here,
        "m.yaml",
        """\
        defaults: {domain: d-1, repository: r1, namespace: acme}
        versions:
          - {package: app, version: "1.0", assets: [{path: a.bin}]}
          - {package: app, version: "1.1", assets: [{path: a.bin}]}
          - {package: app, version: "1.0", assets: [{path: a.bin}], repository: r2}
          - {package: app, version: "1.0", assets: [{path: a.bin}]}
        """,
    )
    items = list(read_manifest("m.yaml"))
    assert [str(item) for item in items if isinstance(item, Problem)] == [
        "m.yaml:6: versions[3]: duplicate of m.yaml:3 (acme/app@1.0)"
    ]
    assert len([item for item in items if isinstance(item, VersionSpec)]) == 3


def test_duplicates_are_found_after_the_set_spills_to_disk() -> None:
    """Past its memory bound the set moves to SQLite and still finds every repeat."""
    from uploader.manifest.duplicates import SeenVersions as _SeenVersions

    seen = _SeenVersions(memory_entries=2)
    try:
        assert [seen.add(bytes([i]) * 16, i + 1) for i in range(5)] == [None] * 5
        assert [seen.add(bytes([i]) * 16, 99) for i in (0, 4)] == [1, 5]
    finally:
        seen.close()


def test_validate_reports_a_duplicate_version_in_jsonl_and_exits_2(here: Path) -> None:
    """`uploader validate` on JSON Lines that repeat a version: exit 2, both lines named."""
    from click.testing import CliRunner

    from uploader.cli import main

    (here / "a.bin").write_bytes(b"a")
    entry = {"domain": "d-1", "repository": "r1", "namespace": "acme", "package": "app",
             "version": "1.0", "assets": [{"path": "a.bin"}]}  # fmt: skip
    line = json.dumps(entry)
    (here / "m.jsonl").write_text(f"{line}\n\n{line}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "m.jsonl"])
    assert result.exit_code == 2, result.output
    assert "m.jsonl:3: duplicate of m.jsonl:1 (acme/app@1.0)" in result.output


def test_run_reports_a_duplicate_version_and_publishes_the_first(tmp_path: Path) -> None:
    """`uploader run --local` on a repeated version: the repeat is a manifest problem, exit 1."""
    import subprocess
    import sys

    (tmp_path / "a.bin").write_bytes(b"a")
    line = json.dumps({"namespace": "acme", "package": "app", "version": "1.0",
                       "assets": [{"path": "a.bin"}]})  # fmt: skip
    (tmp_path / "m.jsonl").write_text(f"{line}\n{line}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "uploader", "run", "m.jsonl", "--local", "--local-dir", "emu",
         "--domain", "demo", "--repository", "repo", "--no-progress", "--log-format", "json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "m.jsonl:2: duplicate of m.jsonl:1 (acme/app@1.0)" in result.stderr + result.stdout
    assert "1 finalized" in result.stderr + result.stdout
