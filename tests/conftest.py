"""Shared fixtures: a clean AWS environment and a real emulator over loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from uploader.emulator import EmulatorThread

# Hypothesis profiles. "ci" (the default, for `make test` and any plain pytest run) is
# derandomized and keeps no example database, so a run is the same on every machine and a
# red suite is a real failure; "fuzz" (`make fuzz`, HYPOTHESIS_PROFILE=fuzz) draws at
# random and many more examples, for hunting by hand.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ACCESS_KEY = "AKIDEXAMPLEUPLOADER"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
DOMAIN = "demo"
REPOSITORY = "repo"


@pytest.fixture(autouse=True)
def aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's AWS settings: only test credentials and empty config files."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "UPLOADER_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.mktemp("aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def start_emulator(data_dir: Path, **kwargs: Any) -> EmulatorThread:
    """An emulator in its own thread holding `demo/repo`, checking the test credentials."""
    kwargs.setdefault("repos", [f"{DOMAIN}/{REPOSITORY}"])
    kwargs.setdefault("credentials", {ACCESS_KEY: SECRET_KEY})
    emulator = EmulatorThread(data_dir, **kwargs)
    emulator.start()
    return emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorThread]:
    """A running emulator with `demo/repo`, stopped after the test."""
    emu = start_emulator(tmp_path / "emulator")
    try:
        yield emu
    finally:
        emu.stop()
