"""Settings: defaults < config file < UPLOADER_* environment < flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from uploader.cli import main
from uploader.config import RunSettings, parse_rate, parse_shard
from uploader.errors import ExitCode, InvalidInputError


def show(*args: str, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """`uploader config show ARGS` as {setting: (value, source)}."""
    result = CliRunner().invoke(main, ["config", "show", *args], env=env)
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        name, _, rest = line.partition("=")
        value, _, source = rest.strip().partition(" ")
        rows[name.strip()] = (value, source.strip())
    return rows


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the file, which beats the default."""
    config = tmp_path / "u.toml"
    config.write_text('[run]\nworkers = 4\nmax-uploads = 32\nrate = "20"\n')
    rows = show("--config", str(config), "--workers", "6", env={"UPLOADER_RATE": "15"})
    assert rows["workers"] == ("6", "flag")
    assert rows["rate"] == ("15", "env UPLOADER_RATE")
    assert rows["max_uploads"] == ("32", f"config {config}")
    assert rows["hash_threads"] == ("2", "default")


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    """UPLOADER_CONFIG names the file when --config is not given."""
    config = tmp_path / "u.toml"
    config.write_text("[run]\nhash_threads = 3\n")
    rows = show(env={"UPLOADER_CONFIG": str(config)})
    assert rows["hash_threads"] == ("3", f"config {config}")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[run]\nworkerz = 3\n", "run.workerz: unknown setting"),
        ("[run\n", "not valid TOML"),
        ("run = 3\n", "[run] must be a table"),
        ("[run]\nworkers = 'many'\n", "workers"),
    ],
)
def test_bad_config_files_are_usage_errors(tmp_path: Path, text: str, fragment: str) -> None:
    """A typo, bad TOML or a wrong type is exit 2 with the file and key named."""
    config = tmp_path / "u.toml"
    config.write_text(text)
    result = CliRunner().invoke(main, ["run", "m.jsonl", "--config", str(config)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_shipped_config_file_is_valid() -> None:
    """config/uploader.toml, documented in place, loads and names only real settings."""
    shipped = Path(__file__).parents[2] / "config" / "uploader.toml"
    rows = show("--config", str(shipped))
    assert rows["workers"][1].startswith("config ")


@given(st.text(max_size=20))
def test_parse_rate_accepts_positive_numbers_and_auto_only(text: str) -> None:
    """--rate takes a positive finite number or `auto`; anything else is InvalidInputError."""
    try:
        rate, auto = parse_rate(text)
    except InvalidInputError as error:
        message = str(error)
    else:
        assert auto or (rate is not None and rate > 0)
        return
    assert message.startswith("--rate")


@given(st.text(max_size=12))
def test_parse_shard_accepts_k_of_n_only(text: str) -> None:
    """--shard takes K/N with 1 <= K <= N; anything else is InvalidInputError."""
    try:
        k, n = parse_shard(text)
    except InvalidInputError as error:
        message = str(error)
    else:
        assert 1 <= k <= n
        return
    assert message.startswith("--shard")


def test_journal_defaults_beside_the_manifest(tmp_path: Path) -> None:
    """The journal lives in .uploader/ next to the manifest unless --journal says otherwise."""
    settings = RunSettings(manifest=str(tmp_path / "m.yaml"))
    assert settings.journal_path() == tmp_path / ".uploader" / "journal.sqlite"
    assert RunSettings(manifest="m", journal=Path("/x/j.db")).journal_path() == Path("/x/j.db")


def test_rate_above_the_write_quota_raises_the_write_rate() -> None:
    """--rate 500 raises the account-write limit with it, or it could never take effect."""
    limits = RunSettings(manifest="m", rate_per_s=500.0).rate_limits()
    assert limits.rate_per_s("publish") == 500.0
    assert limits.rate_per_s("write") >= 500.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JOB_COMPLETION_INDEX": "0", "UPLOADER_SHARDS": "4"}, (1, 4)),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "10"}, (10, 10)),
    ],
)
def test_shard_auto_reads_the_job_index(env: dict[str, str], expected: tuple[int, int]) -> None:
    """--shard auto: K from a Kubernetes or AWS Batch array index (0-based), N from its size."""
    assert parse_shard("auto", env) == expected


@pytest.mark.parametrize(
    "env",
    [{}, {"JOB_COMPLETION_INDEX": "0"}, {"JOB_COMPLETION_INDEX": "4", "UPLOADER_SHARDS": "4"}],
)
def test_shard_auto_without_a_usable_index_is_an_error(env: dict[str, str]) -> None:
    """A missing or out-of-range index is a usage error naming --shard."""
    with pytest.raises(InvalidInputError, match="--shard"):
        parse_shard("auto", env)
