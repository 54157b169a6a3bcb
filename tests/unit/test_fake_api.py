"""Tests of the test fake itself (tests/fake_api.py): it refuses what the service refuses,
and each knob does exactly what it says, no more."""

from __future__ import annotations

import hashlib
import io

import pytest

from tests.fake_api import FakeCodeArtifact
from uploader.api import CodeArtifactAPI
from uploader.domain import PackageRef, Target, VersionStatus
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    RejectedError,
    RetryableRemoteError,
    ThrottledError,
)

_: CodeArtifactAPI = FakeCodeArtifact()  # the fake has the Protocol's shape (mypy --strict)

TARGET = Target("demo", "repo")
REF = PackageRef(TARGET, "acme", "one")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake() -> FakeCodeArtifact:
    """A fake holding `demo/repo`."""
    api = FakeCodeArtifact()
    api.add_repository("demo", "repo")
    return api


async def publish(api: FakeCodeArtifact, version: str, name: str, data: bytes) -> str:
    """Publish `data` as `name`; returns the reply's revision."""
    reply = await api.publish(
        REF, version, asset_name=name, body=data, sha256=sha(data), size_bytes=len(data)
    )
    assert reply.confirms(name, sha(data))
    return reply.revision


async def test_a_body_whose_sha256_differs_is_rejected_and_nothing_stored() -> None:
    """The service checks the body against the SHA-256 sent: a mismatch stores nothing."""
    api = fake()
    with pytest.raises(RejectedError, match="do not match") as caught:
        await api.publish(REF, "1", asset_name="a", body=b"a", sha256=sha(b"b"), size_bytes=1)
    assert caught.value.code == "ValidationException"
    assert api.version(REF, "1") is None


async def test_only_an_unfinished_version_takes_assets() -> None:
    """A Published version refuses a new asset with a conflict, and stays as it was."""
    api = fake()
    api.put_version(REF, "1", VersionStatus.PUBLISHED, {"a": b"a"})
    with pytest.raises(ConflictError, match="only be added to an Unfinished"):
        await publish(api, "1", "b", b"b")
    assert api.held(REF, "1") == {"a": sha(b"a")}


async def test_same_bytes_again_are_accepted_other_bytes_conflict() -> None:
    """Re-sending identical bytes is a success; other bytes under the name a conflict."""
    api = fake()
    first = await publish(api, "1", "a", b"a")
    second = await publish(api, "1", "a", b"a")
    assert second != first  # every change is a new revision
    with pytest.raises(ConflictError):
        await publish(api, "1", "a", b"other")
    assert api.held(REF, "1") == {"a": sha(b"a")}
    strict = FakeCodeArtifact(republish_conflicts=True)
    strict.add_repository("demo", "repo")
    await publish(strict, "1", "a", b"a")
    with pytest.raises(ConflictError):
        await publish(strict, "1", "a", b"a")


async def test_a_file_body_is_read_and_closed() -> None:
    """A file body is stored as read and closed by the call, as the real client does."""
    api = fake()
    body = io.BytesIO(b"from a file")
    await api.publish(
        REF, "1", asset_name="f", body=body, sha256=sha(b"from a file"), size_bytes=11
    )
    assert body.closed
    version = api.version(REF, "1")
    assert version is not None
    assert version.assets["f"].content == b"from a file"


async def test_a_missing_repository_is_fatal_and_create_makes_it() -> None:
    """No such repository: FatalRemoteError; create_repository makes it usable."""
    api = FakeCodeArtifact()
    with pytest.raises(FatalRemoteError, match="not found"):
        await api.describe_repository(TARGET)
    await api.create_repository(TARGET)
    await api.describe_repository(TARGET)
    assert api.calls == ["describe_repository", "create_repository", "describe_repository"]


async def test_reads_of_versions_and_assets() -> None:
    """describe_version/list_assets/list_versions report what is stored, or its absence."""
    api = fake()
    assert await api.describe_version(REF, "1") is None
    assert await api.list_versions(REF, limit=10) == {}
    with pytest.raises(RejectedError) as caught:
        await api.list_assets(REF, "1")
    assert caught.value.code == "ResourceNotFoundException"
    revision = await publish(api, "1", "a", b"a")
    api.put_version(REF, "2", VersionStatus.PUBLISHED, {})
    listing = await api.list_assets(REF, "1")
    assert listing.revision == revision
    assert listing.assets["a"].sha256 == sha(b"a")
    assert listing.assets["a"].size_bytes == 1
    described = await api.describe_version(REF, "1")
    assert described is not None
    assert described.status is VersionStatus.UNFINISHED
    assert await api.list_versions(REF, limit=10) == {
        "1": VersionStatus.UNFINISHED,
        "2": VersionStatus.PUBLISHED,
    }
    assert await api.list_versions(REF, limit=1) is None


async def test_update_status_checks_status_and_revision_per_version() -> None:
    """Each version moves only if Unfinished at the revision given; the others are in
    failedVersions with the service's codes."""
    api = fake()
    revision = await publish(api, "1", "a", b"a")
    await publish(api, "2", "a", b"a")
    api.put_version(REF, "3", VersionStatus.PUBLISHED, {})
    done, failed = await api.update_status(
        REF, {"1": revision, "2": "stale", "3": "", "4": ""}, VersionStatus.PUBLISHED
    )
    assert done == {"1"}
    assert {v: code for v, (code, _) in failed.items()} == {
        "2": "MISMATCHED_REVISION",
        "3": "MISMATCHED_STATUS",
        "4": "NOT_FOUND",
    }
    assert api.status(REF, "1") is VersionStatus.PUBLISHED
    assert api.status(REF, "2") is VersionStatus.UNFINISHED
    with pytest.raises(RejectedError, match="at most 100"):
        await api.update_status(REF, {str(v): "" for v in range(101)}, VersionStatus.PUBLISHED)


async def test_a_lost_reply_stores_the_asset_and_fails_the_call() -> None:
    """lose_reply(2): the 2nd publish stores its asset, then raises a transient error."""
    api = fake()
    api.lose_reply(2)
    await publish(api, "1", "a", b"a")
    with pytest.raises(RetryableRemoteError, match="before the reply"):
        await publish(api, "1", "b", b"b")
    assert api.held(REF, "1") == {"a": sha(b"a"), "b": sha(b"b")}
    await publish(api, "1", "b", b"b")  # the retry: same bytes, accepted


async def test_a_conflict_knob_stores_nothing() -> None:
    """conflict_publish(1): the 1st publish is a ConflictError and nothing is stored."""
    api = fake()
    api.conflict_publish(1)
    with pytest.raises(ConflictError):
        await publish(api, "1", "a", b"a")
    assert api.version(REF, "1") is None


async def test_fail_versions_fails_once_and_changes_nothing() -> None:
    """fail_versions: the next update_status lists the version as failed; the next one
    moves it."""
    api = fake()
    await publish(api, "1", "a", b"a")
    api.fail_versions({"1": "NOT_ALLOWED"}, message="no")
    done, failed = await api.update_status(REF, {"1": ""}, VersionStatus.PUBLISHED)
    assert (done, failed) == (set(), {"1": ("NOT_ALLOWED", "no")})
    assert api.status(REF, "1") is VersionStatus.UNFINISHED
    done, _ = await api.update_status(REF, {"1": ""}, VersionStatus.PUBLISHED)
    assert done == {"1"}


async def test_throttle_the_next_calls_of_an_operation() -> None:
    """throttle(2, operation=...): exactly the next two such calls are throttled."""
    api = fake()
    api.throttle(2, operation="list_versions", retry_after_s=1.5)
    for _ in range(2):
        with pytest.raises(ThrottledError) as caught:
            await api.list_versions(REF, limit=10)
        assert caught.value.retry_after_s == 1.5
    await api.describe_repository(TARGET)
    assert await api.list_versions(REF, limit=10) == {}
    assert api.count("list_versions") == 3


async def test_another_hand_finishes_a_version_before_our_update() -> None:
    """another_hand: the version is Published by someone else first: MISMATCHED_STATUS."""
    api = fake()
    revision = await publish(api, "1", "a", b"a")
    api.another_hand("1")
    done, failed = await api.update_status(REF, {"1": revision}, VersionStatus.PUBLISHED)
    assert done == set()
    assert failed["1"][0] == "MISMATCHED_STATUS"
    assert api.status(REF, "1") is VersionStatus.PUBLISHED
    assert repr(api) == "<FakeCodeArtifact versions=1 assets=1 calls=2>"


async def test_a_conflict_knob_with_bytes_stores_them_first() -> None:
    """conflict_publish(1, held=...): another tool's bytes are stored under the name first,
    and the publish is judged by the service's rule: other bytes conflict, the same pass."""
    api = fake()
    api.conflict_publish(1, held=b"theirs")
    with pytest.raises(ConflictError):
        await publish(api, "1", "a", b"ours")
    assert api.held(REF, "1") == {"a": sha(b"theirs")}
    api.conflict_publish(2, held=b"same")
    await publish(api, "1", "b", b"same")
    assert api.sent == [("1", "a"), ("1", "b")]
