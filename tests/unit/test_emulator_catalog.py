"""The store's default quotas are AWS's: 10 domains, 1,000 repositories per domain,
150 assets per version (checked on the store itself, without HTTP, to stay fast)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from uploader import constants as c
from uploader.emulator.catalog import MAX_DOMAINS, MAX_REPOSITORIES_PER_DOMAIN, Limits
from uploader.emulator.records import StoreError
from uploader.emulator.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store with the default limits."""
    opened = Store(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def test_default_limits_are_the_documented_quotas() -> None:
    """Limits() holds AWS's numbers, from one place each."""
    assert Limits() == Limits(domains=10, repositories_per_domain=1000, assets_per_version=150)
    assert (MAX_DOMAINS, MAX_REPOSITORIES_PER_DOMAIN) == (10, 1000)
    assert c.MAX_ASSETS_PER_VERSION == 150


def test_a_domain_holds_1000_repositories(store: Store) -> None:
    """The 1,001st repository of a domain is ServiceQuotaExceededException naming it."""
    store.catalog.create_domain("big")
    for i in range(MAX_REPOSITORIES_PER_DOMAIN):
        store.catalog.create_repository("big", f"r{i:04}", "")
    with pytest.raises(StoreError) as excinfo:
        store.catalog.create_repository("big", "one-more", "")
    error = excinfo.value
    assert (error.code, error.resource_type, error.resource_id) == (
        "ServiceQuotaExceededException", "repository", "one-more",
    )  # fmt: skip
    assert len(store.catalog.list_repositories("big", "")) == MAX_REPOSITORIES_PER_DOMAIN


def test_an_account_holds_10_domains(store: Store) -> None:
    """The 11th domain is ServiceQuotaExceededException; deleting one makes room."""
    for i in range(MAX_DOMAINS):
        store.catalog.create_domain(f"d{i}")
    with pytest.raises(StoreError) as excinfo:
        store.catalog.create_domain("d-more")
    assert (excinfo.value.code, excinfo.value.resource_type) == (
        "ServiceQuotaExceededException", "domain",
    )  # fmt: skip
    store.catalog.delete_domain("d0")
    assert store.catalog.create_domain("d-more")["status"] == "Active"
