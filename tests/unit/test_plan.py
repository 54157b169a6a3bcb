"""Tests of plan.py's decisions, as values: what to send, what is present, what is complete,
what conflicts, and when the journal alone may skip a version. No I/O."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from uploader.domain import (
    AssetState,
    RemoteAsset,
    RemoteVersion,
    TargetStatus,
    VersionState,
    VersionStatus,
)
from uploader.journal import JournalVersion
from uploader.plan import Plan, compare_assets, different_content, done_in_journal, plan_version

A, B, C = "a" * 64, "b" * 64, "c" * 64
WANTED = {"x.bin": A, "y.bin": B}


def held(status: str, assets: Mapping[str, str] | None = None) -> RemoteVersion:
    """A version the service holds with these assets (name -> SHA-256)."""
    remote = {name: RemoteAsset(name, 1, sha256) for name, sha256 in (assets or {}).items()}
    return RemoteVersion(VersionStatus(status), "rev-1", remote)


def test_no_such_version_sends_every_asset() -> None:
    """A version the service lacks: send all the manifest's assets, in manifest order."""
    assert plan_version(WANTED, None) == Plan(send=("x.bin", "y.bin"))


def test_an_unfinished_version_sends_only_what_it_lacks() -> None:
    """Unfinished with some assets: those are present, the others are sent."""
    plan = plan_version(WANTED, held("Unfinished", {"x.bin": A}))
    assert plan == Plan(send=("y.bin",), present=("x.bin",))


def test_an_unfinished_version_holding_everything_sends_nothing_but_is_not_complete() -> None:
    """Unfinished with every asset: nothing to send, yet not complete (it still needs its
    finalization)."""
    plan = plan_version(WANTED, held("Unfinished", {"x.bin": A, "y.bin": B}))
    assert plan == Plan(present=("x.bin", "y.bin"))
    assert not plan.complete


@pytest.mark.parametrize("status", ["Published", "Unlisted", "Archived"])
def test_a_finished_version_with_exactly_the_assets_is_complete(status: str) -> None:
    """Finished with exactly the manifest's assets and SHA-256s: complete, nothing sent."""
    plan = plan_version(WANTED, held(status, {"x.bin": A, "y.bin": B}))
    assert plan == Plan(present=("x.bin", "y.bin"), complete=True)


def test_a_finished_version_lacking_assets_is_a_conflict() -> None:
    """Published without some assets: it takes no new ones, so the version conflicts and
    nothing is to be sent."""
    plan = plan_version(WANTED, held("Published", {"x.bin": A}))
    assert plan.send == ()
    assert plan.present == ("x.bin",)
    assert not plan.complete
    assert plan.conflict is not None
    assert "already Published on the server without assets ['y.bin']" in plan.conflict


@pytest.mark.parametrize("status", ["Unfinished", "Published"])
def test_an_asset_with_other_bytes_is_a_conflict(status: str) -> None:
    """The service holds an asset name with another SHA-256: a conflict naming both."""
    plan = plan_version(WANTED, held(status, {"x.bin": C}))
    assert plan == Plan(conflict=different_content("x.bin", C, A))
    assert plan.conflict == (
        f"asset x.bin already exists with different content (remote sha256 {C}, local {A})"
    )


def test_an_asset_the_manifest_lacks_is_a_conflict() -> None:
    """An extra asset on the service: the version can never match the manifest."""
    plan = plan_version(WANTED, held("Unfinished", {"x.bin": A, "z.bin": C}))
    assert plan == Plan(conflict="the server's version has assets the manifest lacks: ['z.bin']")


@pytest.mark.parametrize("status", ["Disposed", "Deleted"])
def test_a_disposed_or_deleted_version_is_a_conflict(status: str) -> None:
    """Disposed or Deleted: nothing can be added or finalized."""
    assert plan_version(WANTED, held(status)) == Plan(conflict=f"version is {status} on the server")


def test_compare_assets_sorts_every_name_into_one_kind() -> None:
    """The shared comparison: present, missing, different (theirs, ours), extra (sorted)."""
    remote = held("Unfinished", {"x.bin": A, "y.bin": C, "w.bin": A, "v.bin": B}).assets
    compared = compare_assets({"x.bin": A, "y.bin": B, "u.bin": C}, remote)
    assert compared.present == ("x.bin",)
    assert compared.missing == ("u.bin",)
    assert compared.different == {"y.bin": (C, B)}
    assert compared.extra == ("v.bin", "w.bin")


def journal(
    state: VersionState, assets: dict[str, tuple[str, AssetState]], target: str = "Published"
) -> JournalVersion:
    """What the journal remembers of a version: its state, assets and target status."""
    return JournalVersion(state, target, assets)


DONE = {"x.bin": (A, AssetState.PUBLISHED), "y.bin": (B, AssetState.PUBLISHED)}


@pytest.mark.parametrize(
    "state", [VersionState.FINALIZED, VersionState.UNFINISHED, VersionState.SKIPPED]
)
def test_the_journal_skips_a_version_it_saw_through_with_the_same_files(
    state: VersionState,
) -> None:
    """Seen to the end, same assets and SHA-256s, same target status: skip, no request."""
    assert done_in_journal(journal(state, DONE), WANTED, TargetStatus.PUBLISHED)


def test_the_journal_does_not_skip_what_it_did_not_see_through() -> None:
    """No record, a pending or failed version, another target status, other bytes, an
    asset not confirmed, or one asset more or less: ask the service."""
    published = TargetStatus.PUBLISHED
    assert not done_in_journal(None, WANTED, published)
    assert not done_in_journal(journal(VersionState.PENDING, DONE), WANTED, published)
    assert not done_in_journal(journal(VersionState.FAILED, DONE), WANTED, published)
    assert not done_in_journal(journal(VersionState.FINALIZED, DONE), WANTED, TargetStatus.UNLISTED)
    other_bytes = {**DONE, "y.bin": (C, AssetState.PUBLISHED)}
    assert not done_in_journal(journal(VersionState.FINALIZED, other_bytes), WANTED, published)
    unconfirmed = {**DONE, "y.bin": (B, AssetState.PENDING)}
    assert not done_in_journal(journal(VersionState.FINALIZED, unconfirmed), WANTED, published)
    fewer = {"x.bin": (A, AssetState.PUBLISHED)}
    assert not done_in_journal(journal(VersionState.FINALIZED, fewer), WANTED, published)
    more = {**DONE, "z.bin": (C, AssetState.PUBLISHED)}
    assert not done_in_journal(journal(VersionState.FINALIZED, more), WANTED, published)
