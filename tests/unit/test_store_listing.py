"""A store's listing made versions: the local scan's rules over keys, in bounded memory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.layout import DEFAULT_LAYOUT, Layout
from uploader.scan import ScannedVersion, ScanProblem, scan
from uploader.stores.listing import (
    ListingOrderError,
    ListingScan,
    RemoteAsset,
    StoreFile,
    store_file,
)
from uploader.stores.sorting import SortedSpool

LAYOUT = Layout.parse(DEFAULT_LAYOUT)
SHA256 = "ab" * 32


def listed(keys: Iterable[str], **kwargs: object) -> list[ScannedVersion | ScanProblem]:
    """What ListingScan makes of these keys, given in sorted order."""
    scanner = ListingScan(LAYOUT, **kwargs)  # type: ignore[arg-type]
    items: list[ScannedVersion | ScanProblem] = []
    for key in sorted(keys):
        items += scanner.add(StoreFile(key, f"https://h/{key}"))
    return items + list(scanner.finish())


def shape(items: Iterable[ScannedVersion | ScanProblem]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Problems as strings and versions as (namespace, package, version, names...), sorted."""
    problems = sorted(str(i) for i in items if isinstance(i, ScanProblem))
    versions = sorted(
        (i.namespace, i.package, i.version, *(a.name for a in i.assets))
        for i in items
        if isinstance(i, ScannedVersion)
    )
    return problems, versions


SEGMENTS = st.sampled_from(["acme", "app", "1.0", "1 0", ".h", "a:b", "x.tgz", "lib", "y.log"])
KEYS = st.lists(st.lists(SEGMENTS, min_size=1, max_size=5).map("/".join), max_size=25)
FILTERS = st.sampled_from([{}, {"exclude": ["*.log"]}, {"include": ["app/"]}, {"hidden": True}])


def prefix_free(keys: list[str]) -> list[str]:
    """The keys a folder tree can hold: none is a folder of another."""
    unique = sorted(set(keys))
    return [k for k in unique if not any(o.startswith(k + "/") for o in unique)]


@settings(max_examples=150, deadline=None)
@given(keys=KEYS, filters=FILTERS)
def test_a_listing_gives_what_the_local_scan_gives_for_the_same_tree(
    keys: list[str], filters: dict[str, object]
) -> None:
    """For any tree, the same problems and versions as the local scan, whatever the filters."""
    files = prefix_free(keys)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for rel in files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x")
        local = list(scan(root, layout=LAYOUT, output_dir=root, **filters))  # type: ignore[arg-type]
    assert shape(listed(files, **filters)) == shape(local)


def test_keys_out_of_order_raise() -> None:
    """A key before one already given would split a version: ListingOrderError."""
    scanner = ListingScan(LAYOUT)
    list(scanner.add(StoreFile("acme/b/1/x", "u")))
    with pytest.raises(ListingOrderError, match="'acme/a/1/x' after 'acme/b/1/x'"):
        list(scanner.add(StoreFile("acme/a/1/x", "u")))


def test_folder_markers_are_not_files() -> None:
    """Keys ending in `/` (console folders) are neither assets nor problems."""
    assert shape(listed(["acme/", "acme/app/", "acme/app/1/", "acme/app/1/a.tgz"])) == (
        [],
        [("acme", "app", "1", "a.tgz")],
    )


def test_a_version_with_too_many_files_is_one_problem() -> None:
    """More files than a version takes: one problem, no version, memory capped."""
    keys = [f"acme/app/1/f{n:03d}" for n in range(MAX_ASSETS_PER_VERSION + 2)]
    assert shape(listed(keys)) == (
        [f"acme/app/1/: {MAX_ASSETS_PER_VERSION + 2} files; a version takes at most"
         f" {MAX_ASSETS_PER_VERSION}; version not written"],
        [],
    )  # fmt: skip


def test_a_namespace_for_a_layout_without_one() -> None:
    """`--namespace` fills the namespace; it is refused when the layout has one."""
    scanner = ListingScan(Layout.parse("{package}/{version}/"), namespace="acme")
    items = [*scanner.add(StoreFile("app/1/a.tgz", "u")), *scanner.finish()]
    assert shape(items) == ([], [("acme", "app", "1", "a.tgz")])
    with pytest.raises(ValueError, match="do not give one too"):
        ListingScan(LAYOUT, namespace="acme")


def test_remote_assets_write_only_what_the_store_declared() -> None:
    """A declaration the store did not make is left out of the manifest's asset."""
    bare = RemoteAsset("a", StoreFile("k", "s3://b/k"))
    assert bare.to_json() == {"url": "s3://b/k", "name": "a"}
    full = RemoteAsset(
        "a", StoreFile("k", "s3://b/k", 3, SHA256, "cd" * 20, '"e"', "2026-01-01T00:00:00Z")
    )
    assert full.to_json() == {
        "url": "s3://b/k", "name": "a", "sha256": SHA256, "size": 3, "sha1": "cd" * 20,
        "etag": '"e"', "last_modified": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def test_store_file_drops_declarations_a_manifest_would_refuse() -> None:
    """Bad hashes, negative or boolean sizes and times without an offset are dropped."""
    bad = store_file("k", "u", size_bytes=-1, sha256="xyz", sha1=7, last_modified="2026-01-01")
    assert bad == StoreFile("k", "u")
    assert store_file("k", "u", size_bytes=True).size_bytes is None
    good = store_file("k", "u", size_bytes=0, sha256=SHA256.upper(), sha1="CD" * 20)
    assert (good.size_bytes, good.sha256, good.sha1) == (0, SHA256, "cd" * 20)


def test_sorted_spool_gives_keys_in_order_once() -> None:
    """Files in any order come back in code point order; a key given twice is kept once."""
    spool = SortedSpool()
    try:
        spool.add([StoreFile("b/2", "u"), StoreFile("a-b/1", "u"), StoreFile("a/1", "u")])
        spool.add([StoreFile("b/2", "other"), StoreFile("é/1", "u"), StoreFile("a.b", "u")])
        got = [f for batch in spool.sorted_batches(2) for f in batch]
    finally:
        spool.close()
    assert [f.rel for f in got] == ["a-b/1", "a.b", "a/1", "b/2", "é/1"]
    assert [f.url for f in got if f.rel == "b/2"] == ["u"]
    assert repr(spool) == "<SortedSpool files=5>"
