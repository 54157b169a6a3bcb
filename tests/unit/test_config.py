"""Settings: defaults < config file < UPLOADER_* environment < flags, and clear errors."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from uploader.cli import main
from uploader.config import (
    Rate,
    RunSettings,
    check_endpoint_url,
    default_of,
    key_of,
    parse_duration,
    parse_rate,
    parse_shard,
    settings_of,
    show_duration,
)
from uploader.domain import TargetStatus
from uploader.errors import ExitCode, InvalidInputError
from uploader.limits import Family


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
    limits = RunSettings(manifest="m", rate=Rate(500.0)).rate_limits()
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


# --- one validation for every command, wherever a value comes from ----------------------

BAD_VALUES = [
    ("rate", "-5", "at least 0.01"),
    ("rate", "1e-300", "at least 0.01"),
    ("shard", "5/2", "1 <= K <= N"),
    ("endpoint-url", "http://user:s3cret@127.0.0.1:9", "must not hold a user name"),
    ("processes", "0", "not in the range"),
    ("processes", "65", "not in the range"),
    ("max-retry-after", "0", "not in the range"),
]


def _invoke_with(
    tmp_path: Path, command: list[str], key: str, value: str, source: str
) -> tuple[int, str]:
    """Run `command` with `key = value` given as a flag, a variable or a config file."""
    args, env = [*command, "m.jsonl"], {}
    if source == "flag":
        args += [f"--{key}", value]
    elif source == "env":
        env[f"UPLOADER_{key.replace('-', '_').upper()}"] = value
    else:
        config = tmp_path / "c.toml"
        config.write_text(f"[run]\n{key} = {value if value.isdigit() else repr(value)}\n")
        args += ["--config", str(config)]
    result = CliRunner().invoke(main, args, env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize("source", ["flag", "env", "toml"])
@pytest.mark.parametrize(("key", "value", "fragment"), BAD_VALUES)
@pytest.mark.parametrize("command", [["run"], ["config", "show"]])
def test_bad_values_are_usage_errors_everywhere(
    tmp_path: Path, *, command: list[str], key: str, value: str, fragment: str, source: str
) -> None:
    """A bad value is exit 2 with one clear line, from a flag, a variable or the file alike."""
    code, output = _invoke_with(tmp_path, command, key, value, source)
    assert code == ExitCode.BAD_INPUT, output
    assert fragment in output
    assert "Traceback" not in output
    assert "s3cret" not in output  # a password in an endpoint is never printed


@pytest.mark.parametrize("command", [["verify"], ["validate"], ["status"]])
def test_other_commands_check_shared_values_the_same_way(
    tmp_path: Path, command: list[str]
) -> None:
    """`--shard 5/2` is refused by every command that takes it, before any work."""
    code, output = _invoke_with(tmp_path, command, "shard", "5/2", "flag")
    assert code == ExitCode.BAD_INPUT
    assert "1 <= K <= N" in output


def test_a_bad_variable_is_named() -> None:
    """UPLOADER_WORKERS=abc is reported naming the variable, not a flag never typed."""
    result = CliRunner().invoke(main, ["run", "m.jsonl"], env={"UPLOADER_WORKERS": "abc"})
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "UPLOADER_WORKERS" in result.output
    assert "'--workers'" not in result.output


def test_a_bad_file_value_names_the_file_and_key(tmp_path: Path) -> None:
    """`rate = -5` in the file is reported as FILE: run.rate."""
    config = tmp_path / "c.toml"
    config.write_text("[run]\nrate = -5\n")
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert f"{config}: run.rate" in result.output


def test_config_show_errors_point_at_its_own_help() -> None:
    """A usage error of `config show` says `Try 'uploader config show --help'`."""
    result = CliRunner().invoke(main, ["config", "show", "--workers", "0"], prog_name="uploader")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "Try 'uploader config show --help'" in result.output


def test_verify_help_does_not_speak_of_uploading() -> None:
    """Each command's help is its own: verify's --local does not `upload to it`."""
    result = CliRunner().invoke(main, ["verify", "--help"])
    assert "upload to it" not in result.output
    assert "--status" in result.output
    assert "--shard" in result.output
    assert "--no-progress" in result.output


def test_unknown_keys_get_a_suggestion(tmp_path: Path) -> None:
    """A typo in the file is exit 2 with the closest setting suggested, as manifest keys get."""
    config = tmp_path / "c.toml"
    config.write_text("[run]\nmax-upload = 3\n")
    result = CliRunner().invoke(main, ["verify", "m.jsonl", "--config", str(config)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "run.max_upload: unknown setting (did you mean 'max-uploads'?)" in result.output


def test_a_key_another_command_uses_is_not_an_error(tmp_path: Path) -> None:
    """validate takes a config file whose [run] table holds run-only keys (workers, rate)."""
    (tmp_path / "a.bin").write_bytes(b"a")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"package": "p", "version": "1", "assets": [{"path": "a.bin"}]}\n')
    config = tmp_path / "c.toml"
    config.write_text('[run]\ndomain = "my-domain"\nrepository = "my-repo"\nnamespace = "acme"\n'
                      'workers = 3\nrate = "auto"\nmax-uploads = 4\n')  # fmt: skip
    result = CliRunner().invoke(main, ["validate", str(manifest), "--config", str(config)])
    assert result.exit_code == ExitCode.OK, result.output
    assert "OK, 1 version(s)" in result.output


def test_a_config_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 get the invalid-TOML message and exit 2, not a traceback."""
    config = tmp_path / "c.toml"
    config.write_bytes(b"\xff\xfe")
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config)])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "not valid TOML: not UTF-8" in result.output
    assert "Traceback" not in result.output


def test_aws_region_wins_over_aws_default_region() -> None:
    """As in the newer AWS SDKs: AWS_REGION, then AWS_DEFAULT_REGION; --region beats both."""
    env = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert show(env=env)["region"] == ("eu-west-1", "env AWS_REGION")
    only_default = {"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-2"}
    assert show(env=only_default)["region"] == ("us-east-2", "env AWS_DEFAULT_REGION")
    assert show("--region", "ap-south-1", env=env)["region"] == ("ap-south-1", "flag")


def test_reconcile_and_max_retry_after_reach_the_settings() -> None:
    """--reconcile and --max-retry-after are run settings like any other (default, flag)."""
    rows = show()
    assert rows["reconcile"] == ("False", "default")
    assert rows["max_retry_after"] == ("60.0", "default")
    rows = show("--reconcile", "--max-retry-after", "5")
    assert rows["reconcile"] == ("True", "flag")
    assert rows["max_retry_after"] == ("5.0", "flag")
    assert RunSettings(manifest="m").max_retry_after_s == 60.0


@given(st.text(max_size=30))
def test_check_endpoint_url_never_echoes_the_url(text: str) -> None:
    """check_endpoint_url accepts a URL or raises InvalidInputError without repeating it."""
    try:
        check_endpoint_url(f"http://{text}")
    except InvalidInputError as error:
        message = str(error)
    else:
        return
    assert len(text) < 3 or text not in message


def test_rate_below_the_bound_is_refused_in_code_too() -> None:
    """RunSettings built in code checks the same lower bound as the flag."""
    with pytest.raises(InvalidInputError, match=r"at least 0\.01"):
        RunSettings(manifest="m", rate=Rate(1e-300))
    with pytest.raises(InvalidInputError, match="user name"):
        RunSettings(manifest="m", endpoint_url="http://a:b@host")


def test_aws_endpoint_variables_with_a_password_are_refused() -> None:
    """AWS_ENDPOINT_URL_CODEARTIFACT=http://u:p@host is exit 2 naming it, the password unsaid."""
    env = {"AWS_ENDPOINT_URL_CODEARTIFACT": "http://u:s3cret@127.0.0.1:9"}
    result = CliRunner().invoke(main, ["config", "show"], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "AWS_ENDPOINT_URL_CODEARTIFACT: must not hold a user name" in result.output
    assert "s3cret" not in result.output


# --- one definition: the config file documents it, JSON carries it ----------------------

_DOCUMENTED = re.compile(r"^#?\s*([a-z][a-z_-]*)\s*=\s*(.+?)\s*(?:#.*)?$")


def _documented_keys(text: str) -> dict[str, tuple[bool, object]]:
    """The `[run]` keys config/uploader.toml shows: key -> (set, not commented; value)."""
    keys: dict[str, tuple[bool, object]] = {}
    in_run = False
    for line in text.splitlines():
        if line.startswith("["):
            in_run = line.strip() == "[run]"
            continue
        match = _DOCUMENTED.match(line)
        if in_run and match:
            key, value = match.groups()
            keys[key.replace("-", "_")] = (
                not line.startswith("#"),
                tomllib.loads(f"v = {value}")["v"],
            )
    return keys


def test_the_config_file_documents_every_setting_with_its_default() -> None:
    """config/uploader.toml names exactly the settings that exist; a value it sets is the
    real default, and one it only suggests (commented) has no default or the real one."""
    shipped = Path(__file__).parents[2] / "config" / "uploader.toml"
    documented = _documented_keys(shipped.read_text())
    settings = {key_of(n): n for n, s in settings_of().items() if not s.hidden}
    assert sorted(documented) == sorted(settings)
    for key, (is_set, value) in documented.items():
        name = settings[key]
        default = default_of(name)
        written = None if default is None else settings_of()[name].kind.to_json(default)
        if is_set or default is not None:
            assert value == written, f"{key}: the file says {value!r}, the default is {written!r}"


_SETTINGS = st.builds(
    RunSettings,
    manifest=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1),
    domain=st.none() | st.text(max_size=8),
    status=st.none() | st.sampled_from(TargetStatus),
    shard=st.integers(1, 9).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
    local_dir=st.text(min_size=1, max_size=8).map(Path),
    workers=st.integers(1, 99),
    max_retry_after_s=st.floats(0.001, 1e6),
    report=st.none() | st.text(min_size=1, max_size=8).map(Path),
    log_format=st.sampled_from(["auto", "console", "json"]),
    progress=st.booleans(),
    rate=st.none() | st.just(Rate(None, auto=True)) | st.floats(0.01, 1e5).map(Rate),
    drain_timeout_s=st.floats(0, 1e6),
)


@given(_SETTINGS)
def test_settings_round_trip_through_json(settings: RunSettings) -> None:
    """Whatever the settings, `from_json(to_json())` gives them back equal, through JSON."""
    assert RunSettings.from_json(json.loads(json.dumps(settings.to_json()))) == settings


@given(st.floats(0.001, 1e7) | st.integers(1, 10**7).map(float))
def test_a_duration_reads_back_as_it_is_shown(seconds: float) -> None:
    """--max-duration's notation round-trips: parse(show(s)) == s, for any s above 0."""
    assert parse_duration(show_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("1h30m", 5400.0), ("45m", 2700.0), ("2.5s", 2.5),
                          (" 1H ", 3600.0), ("1m30s", 90.0)],
)  # fmt: skip
def test_durations_as_rclone_writes_them(text: str, seconds: float) -> None:
    """Seconds, or hours, minutes and seconds run together."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "1h30", "m", "5d", "1e3", "inf", "1h 30m"])
def test_bad_durations_are_refused(text: str) -> None:
    """Anything else, zero or a bare number beside units included, is InvalidInputError."""
    with pytest.raises(InvalidInputError, match="--max-duration"):
        parse_duration(text)


def test_shards_running_at_once_share_the_jobs_rate() -> None:
    """--rate is the whole job's: 4 shards take 1/4 each, or 1/P with --parallel P."""
    one_of_four = RunSettings(manifest="m", rate=Rate(20.0), shard=(2, 4)).rate_limits()
    assert one_of_four.rate_per_s("publish") == 5.0
    two_at_once = RunSettings(manifest="m", rate=Rate(20.0), shard=(2, 4), parallel=2)
    assert two_at_once.rate_limits().rate_per_s("publish") == 10.0
    default_quota = RunSettings(manifest="m", shard=(1, 4)).rate_limits()
    assert default_quota.rate_per_s("publish") == 2.5


def test_more_shards_at_once_than_shards_is_refused() -> None:
    """--parallel above N of --shard K/N is a usage error naming both."""
    with pytest.raises(InvalidInputError, match="--parallel 5: more shards at once than the 4"):
        RunSettings(manifest="m", shard=(1, 4), parallel=5)


def test_auto_on_shards_starts_at_its_share_and_probes_within_headroom() -> None:
    """`--rate auto` on 4 shards: starts at 10/4, ceiling 1.2x its share of the write
    quota, and grows by a quarter of the one-process step."""
    whole = RunSettings(manifest="m", rate=Rate(None, auto=True)).rate_limits()
    shard = RunSettings(manifest="m", rate=Rate(None, auto=True), shard=(3, 4)).rate_limits()
    assert shard.rate_per_s("publish") == whole.rate_per_s("publish") / 4
    whole_ceiling = whole.snapshot()[Family.PUBLISH].ceiling_per_s
    assert shard.snapshot()[Family.PUBLISH].ceiling_per_s == pytest.approx(1.2 * whole_ceiling / 4)
