"""Manifest assets with a `url`: the URL forms, the store's declarations, and who takes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uploader.manifest import (
    Place,
    Problem,
    RemoteAssetSpec,
    VersionSpec,
    read_manifest,
)
from uploader.manifest.urls import SourceURL, UrlScheme, parse_url, s3_url

TARGET = {"domain": "my-domain", "repository": "my-repo", "namespace": "acme"}
SHA256 = "ab" * 32
SHA1 = "cd" * 20
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def line_of(*assets: dict[str, object]) -> dict[str, object]:
    """A JSON Lines entry of version acme/app@1.0 with these assets."""
    return {**TARGET, "package": "app", "version": "1.0", "assets": list(assets)}


def read(folder: Path, entry: dict[str, object]) -> list[object]:
    """Write the entry as folder/m.jsonl and read it back (specs and problem strings)."""
    path = folder / "m.jsonl"
    path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    return [item if isinstance(item, VersionSpec) else str(item) for item in read_manifest(path)]


def problems_of(folder: Path, *assets: dict[str, object]) -> list[str]:
    """The problems of one entry with these assets."""
    return [p for p in read(folder, line_of(*assets)) if isinstance(p, str)]


# --- URL forms ---------------------------------------------------------------------------


def test_s3_url_with_version_id_is_parsed() -> None:
    """s3://bucket/key?versionId= gives the bucket, the decoded key and the version."""
    assert parse_url("s3://my-bucket/a/b%20c.tgz?versionId=v1.2") == SourceURL(
        UrlScheme.S3, "my-bucket", "a/b c.tgz", "v1.2"
    )


def test_https_url_is_parsed_with_its_decoded_path() -> None:
    """An https:// URL gives its host and its percent-decoded path."""
    parsed = parse_url("https://host:8443/artifactory/repo/x%2By.tgz")
    assert parsed == SourceURL(UrlScheme.HTTPS, "host", "/artifactory/repo/x+y.tgz")
    assert isinstance(parsed, SourceURL)
    assert parsed.base_name == "x+y.tgz"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ftp://host/x", "scheme 'ftp://' is not a source we read (use s3://, https://, http://)"),
        ("dist/x.tgz", "a URL without a scheme is not a source we read"),
        ("s3://bucket", "s3:// needs an object key after the bucket"),
        ("s3://bucket/folder/", "s3:// needs an object key after the bucket"),
        ("s3:///key", "s3:// needs a bucket name"),
        ("s3://u@bucket/key", "s3:// needs a bucket name, without a user or a port"),
        ("s3://bucket/key?v=1", "an s3:// URL takes one query parameter, ?versionId=ID"),
        ("s3://bucket/key?versionId=", "an s3:// URL takes one query parameter"),
        ("https://host/", "https:// needs the path of a file after the host"),
        ("https:///x", "https:// needs a host"),
        ("https://user:pw@host/x", "must not hold credentials"),
        ("https://host:99999/x", "has a bad port"),
        ("https://host/x#frag", "must not have a fragment"),
        ("https://host/a b", "must not hold spaces or control characters"),
        ("https://host/" + "x" * 9000, "is longer than 8192 characters"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(text: str, reason: str) -> None:
    """Each URL a manifest cannot take gets a short reason saying what to write."""
    got = parse_url(text)
    assert isinstance(got, str)
    assert got.startswith(reason)


@FAST
@given(
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    key=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60
    ).filter(lambda k: not k.endswith("/")),
    version_id=st.none() | st.text("abcXYZ019._-+/=", min_size=1, max_size=40),
)
def test_every_s3_key_round_trips_through_its_url(
    bucket: str, key: str, version_id: str | None
) -> None:
    """s3_url writes any key (spaces, `?`, `#`, `%`, control characters) so parse_url reads it."""
    assert parse_url(s3_url(bucket, key, version_id)) == SourceURL(
        UrlScheme.S3, bucket, key, version_id
    )


@FAST
@given(st.text(max_size=80))
def test_parse_url_never_raises(text: str) -> None:
    """Any text is either a SourceURL or a reason, never an exception."""
    assert isinstance(parse_url(text), SourceURL | str)


# --- Reading assets with a url -----------------------------------------------------------


def test_url_asset_with_declarations_is_read_into_a_remote_asset_spec(tmp_path: Path) -> None:
    """A url asset keeps its declared sha256 (lower-cased), size, sha1 and version identity."""
    asset = {
        "url": "s3://bucket/acme/app/1.0/app.tgz?versionId=3",
        "sha256": SHA256.upper(),
        "size": 12,
        "sha1": SHA1.upper(),
        "etag": '"9a0364b9e99bb480dd25e1f0284c8555"',
        "last_modified": "2026-01-02T03:04:05+00:00",
    }
    (spec,) = read(tmp_path, line_of(asset))
    assert isinstance(spec, VersionSpec)
    assert spec.assets == (
        RemoteAssetSpec(
            "app.tgz",
            asset["url"],  # type: ignore[arg-type]
            SHA256,
            Place(str(tmp_path / "m.jsonl"), 1, "assets[0]"),
            12,
            SHA1,
            '"9a0364b9e99bb480dd25e1f0284c8555"',
            "2026-01-02T03:04:05+00:00",
        ),
    )


def test_url_assets_are_never_stat_ed(tmp_path: Path) -> None:
    """A url that looks like a missing local file is read without a file check."""
    (spec,) = read(tmp_path, line_of({"url": "https://host/repo/nope.tgz", "name": "n.tgz"}))
    assert isinstance(spec, VersionSpec)
    assert [a.name for a in spec.assets] == ["n.tgz"]


def test_local_and_remote_assets_mix_and_names_stay_unique(tmp_path: Path) -> None:
    """A version may hold files and URLs; one name used by both is a duplicate."""
    (tmp_path / "a.tgz").write_bytes(b"a")
    got = problems_of(tmp_path, {"path": "a.tgz"}, {"url": "https://h/x/a.tgz"})
    assert got == [
        f"{tmp_path / 'm.jsonl'}:1: assets[1].name: duplicate asset name 'a.tgz' (also assets[0])"
    ]


@pytest.mark.parametrize(
    ("asset", "problem"),
    [
        ({"path": "a.tgz", "url": "https://h/a.tgz"}, "assets[0]: give path or url, not both"),
        ({"name": "x"}, "assets[0].path: is required"),
        ({"url": "gopher://h/a"}, "assets[0].url: scheme 'gopher://' is not a source we read"),
        ({"url": ""}, "assets[0].url: must not be empty"),
        ({"url": 3}, "assets[0].url: must be a string, not integer"),
        ({"url": "https://h/a", "sha1": "xyz"}, "assets[0].sha1: 'xyz' is not a SHA-1"),
        ({"url": "https://h/a", "sha1": "a" * 41}, "assets[0].sha1: "),
        ({"url": "https://h/a", "size": -1}, "assets[0].size: must be a non-negative integer"),
        ({"url": "https://h/a", "size": 1.5}, "assets[0].size: must be a non-negative integer"),
        ({"url": "https://h/a", "size": True}, "assets[0].size: must be a non-negative integer"),
        ({"url": "https://h/a", "size": "3"}, "assets[0].size: must be a non-negative integer"),
        ({"url": "https://h/a", "etag": ""}, "assets[0].etag: must be 1 to 1024 printable"),
        (
            {"url": "https://h/a", "last_modified": "yesterday"},
            "assets[0].last_modified: 'yesterday' is not an ISO 8601 time",
        ),
        (
            {"url": "https://h/a", "last_modified": "2026-01-02T03:04:05"},
            "assets[0].last_modified: '2026-01-02T03:04:05' is not an ISO 8601 time with a UTC",
        ),
        ({"path": "a.tgz", "size": 1}, "assets[0].size: is for url assets only"),
        ({"path": "a.tgz", "sha1": SHA1}, "assets[0].sha1: is for url assets only"),
        ({"url": "https://h/x/bad:name?"}, "assets[0].url: the URL's base name 'bad:name'"),
        ({"url": "https://h/a", "szie": 1}, "assets[0].szie: unknown key 'szie' (did you mean"),
    ],
)
def test_bad_url_assets_name_the_field(
    tmp_path: Path, asset: dict[str, object], problem: str
) -> None:
    """Each rule of a url asset is reported at the asset or the field that breaks it."""
    (tmp_path / "a.tgz").write_bytes(b"a")
    got = problems_of(tmp_path, asset)
    assert len(got) == 1, got
    assert got[0].startswith(f"{tmp_path / 'm.jsonl'}:1: {problem}"), got


def test_local_and_remote_assets_keep_the_manifest_s_order(tmp_path: Path) -> None:
    """A version's files and URLs sit in one `assets`, in the order the manifest gives."""
    (tmp_path / "a.tgz").write_bytes(b"a")
    (spec,) = read(tmp_path, line_of({"url": "s3://b/k.tgz"}, {"path": "a.tgz"}))
    assert isinstance(spec, VersionSpec)
    assert [type(a).__name__ for a in spec.assets] == ["RemoteAssetSpec", "AssetSpec"]
    assert [a.location for a in spec.assets] == ["s3://b/k.tgz", str(tmp_path / "a.tgz")]


def test_yaml_url_asset_sizes_are_integers(tmp_path: Path) -> None:
    """In YAML, `size: 12` is an integer and `size: '12'` is refused."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "defaults: {domain: d-1, repository: repo, namespace: acme}\n"
        "versions:\n"
        "  - {package: a, version: '1', assets: [{url: 'https://h/a.tgz', size: 12}]}\n"
        "  - {package: b, version: '1', assets: [{url: 'https://h/b.tgz', size: '12'}]}\n",
        encoding="utf-8",
    )
    got = list(read_manifest(path))
    assert isinstance(got[0], VersionSpec)
    (asset,) = got[0].assets
    assert isinstance(asset, RemoteAssetSpec)
    assert asset.size_bytes == 12
    assert isinstance(got[1], Problem)
    assert "versions[1].assets[0].size: must be a non-negative integer" in str(got[1])
