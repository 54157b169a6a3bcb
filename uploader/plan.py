"""What a version still needs, decided from what the service holds: a value, no I/O.

The service is the truth, the journal a hint. Before anything is sent, and again before a
version is finalized, the service's view of the version (its status and its assets with
their SHA-256s) is compared with the manifest's. The comparison is this module's one
function, `plan_version`, so that every path (first run, resume, `--reconcile`, a retry
after a lost reply) decides the same way:

    no such version            -> send every asset
    Unfinished                 -> send the missing assets; the rest are present
    Published/Unlisted/Archived, exactly the manifest's assets  -> complete: nothing to do
    anything else              -> a conflict: the version fails with the plan's message
      (an asset with other bytes, an asset the manifest lacks, a finished version
       missing assets, a Disposed or Deleted version)

A version is finalized only after a plan made from a fresh listing says there is
nothing left to send: that is how no version is ever Published with fewer assets, or
other bytes, than its manifest entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from uploader.domain import AssetState, RemoteAsset, RemoteVersion, TargetStatus, VersionStatus
from uploader.journal import JournalVersion


@dataclass(frozen=True)
class Plan:
    """What to do with one version.

    Args:
        send: asset names to publish.
        present: asset names the service holds with the manifest's SHA-256.
        complete: the version is finished on the service with exactly these assets.
        conflict: why the version cannot be made to match the manifest, or None.
    """

    send: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    complete: bool = False
    conflict: str | None = field(default=None)


@dataclass(frozen=True)
class AssetComparison:
    """The manifest's assets beside the service's, by name: the one comparison that
    planning (`plan_version`) and auditing (`verify.compare`) share.

    Args:
        present: held with the manifest's SHA-256.
        missing: in the manifest, not on the service.
        different: held with other bytes: name -> (the service's SHA-256, ours).
        extra: on the service, not in the manifest (sorted).
    """

    present: tuple[str, ...]
    missing: tuple[str, ...]
    different: dict[str, tuple[str, str]]
    extra: tuple[str, ...]


def compare_assets(wanted: Mapping[str, str], held: Mapping[str, RemoteAsset]) -> AssetComparison:
    """Compare `wanted` (name -> SHA-256) with the assets the service holds."""
    different = {
        name: (held[name].sha256, sha256)
        for name, sha256 in wanted.items()
        if name in held and held[name].sha256 != sha256
    }
    return AssetComparison(
        present=tuple(n for n in wanted if n in held and n not in different),
        missing=tuple(n for n in wanted if n not in held),
        different=different,
        extra=tuple(sorted(set(held) - set(wanted))),
    )


def plan_version(wanted: Mapping[str, str], remote: RemoteVersion | None) -> Plan:
    """The plan for a version whose manifest assets are `wanted` (name -> SHA-256), given
    what the service holds (None: no such version)."""
    if remote is None:
        return Plan(send=tuple(wanted))
    assets = compare_assets(wanted, remote.assets)
    conflict = _conflict(remote.status, assets)
    if conflict is not None:
        return Plan(conflict=conflict)
    present, missing = assets.present, assets.missing
    if remote.status.finished:
        if missing:
            return Plan(
                present=present,
                conflict=f"version is already {remote.status} on the server without"
                f" assets {list(missing)}: a finished version takes no new assets;"
                " publish a new version",
            )
        return Plan(present=present, complete=True)
    return Plan(send=missing, present=present)


def _conflict(status: VersionStatus, assets: AssetComparison) -> str | None:
    if status is not VersionStatus.UNFINISHED and not status.finished:
        return f"version is {status} on the server"
    if assets.different:
        name, (remote_sha256, local_sha256) = next(iter(assets.different.items()))
        return different_content(name, remote_sha256, local_sha256)
    if assets.extra:
        return f"the server's version has assets the manifest lacks: {list(assets.extra)}"
    return None


def different_content(name: str, remote_sha256: str, local_sha256: str) -> str:
    """The message for an asset the service holds with other bytes."""
    return (
        f"asset {name} already exists with different content"
        f" (remote sha256 {remote_sha256}, local {local_sha256})"
    )


def done_in_journal(
    known: JournalVersion | None, wanted: Mapping[str, str], target_status: TargetStatus
) -> bool:
    """Whether the journal saw this exact version (the same files, the same target status)
    through to the end: then it may be skipped without asking the service."""
    if known is None or not known.state.done or known.target_status != target_status:
        return False
    return known.assets == {name: (sha256, AssetState.PUBLISHED) for name, sha256 in wanted.items()}
