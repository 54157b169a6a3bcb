"""Run settings: one typed object, validated in one place.

The command line builds it (click reads flags, then `UPLOADER_*` environment variables,
then the config file's `[run]` table, then defaults); AWS settings come the AWS ways
(profile, env, container role, `AWS_ENDPOINT_URL_CODEARTIFACT`) and are only passed
through when given. Every command reads the same `[run]` table: a key a command does
not use is ignored by it, a key no command knows is an error.

The parsers here (`parse_rate`, `parse_shard`, `check_endpoint_url`) are the one place a
value is checked: the click types of cli.py call them for flags, variables and the file
alike, and `RunSettings` checks its fields again for settings built in code.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from uploader import constants as c
from uploader.domain import TargetStatus
from uploader.errors import InvalidInputError
from uploader.limits import DEFAULT_RATES_PER_S, AdaptivePolicy, Family, RateLimits

DEFAULT_LOCAL_DIR: Final = Path(".uploader/emulator")
AUTO_CEILING_PER_S: Final = c.ACCOUNT_WRITE_RATE_PER_S
MAX_PROCESSES: Final = 64
AUTO_STEP_PER_S: Final = 1.0  # publishes/s added per second of success under --rate auto
LOCAL_CREDENTIALS: Final = ("local", "local")  # the embedded emulator accepts any signer
CONFIG_TABLE: Final = "run"  # the one table of a config file every command reads


@dataclass(frozen=True)
class RunSettings:
    """Everything `uploader run` needs.

    Args:
        manifest: a path, or `-` for JSON Lines on stdin.
        domain/domain_owner/repository/namespace/status: defaults for manifest entries.
        rate_per_s: the publish rate; None keeps AWS's default quota (10/s).
        rate_auto: adapt the rates to throttling (AIMD), up to the starting rates.
        local: run against an embedded emulator in `local_dir`.
        shard: (k, n): take the k-th of n shares of the packages.
        part: (j, m): this process is the j-th of m sharing the run (`--processes`): it
            takes every m-th version of its shard and 1/m of every rate.
        processes: how many processes share the run; above 1, this one only starts them.
        journal: the resume journal; None puts it at `.uploader/journal.sqlite` beside the
            manifest (in the current directory for stdin).
        resume: skip what the journal says is done (`--no-resume` turns it off, and the
            hash cache with it).
        reconcile: ask the service about every version, even those the journal says are
            done (`--reconcile`); the hash cache still spares unchanged files.
        drain_timeout_s: after a stop signal, how long requests in flight may take.
        reconcile: ask the service about every version, even those the journal says
            are done (the journal is a hint; the service is the truth).
        max_retry_after_s: the longest wait a server's Retry-After can impose; past it
            the wait is this long and the attempt counts.
    """

    manifest: str
    domain: str | None = None
    domain_owner: str | None = None
    repository: str | None = None
    namespace: str | None = None
    status: TargetStatus | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False
    local_dir: Path = DEFAULT_LOCAL_DIR
    workers: int = 8
    max_uploads: int = 16
    hash_threads: int = 2
    max_attempts: int = 8
    rate_per_s: float | None = None
    rate_auto: bool = False
    report: Path | None = None
    dry_run: bool = False
    shard: tuple[int, int] = (1, 1)
    part: tuple[int, int] = (1, 1)
    processes: int = 1
    allow_outside: bool = False
    journal: Path | None = None
    resume: bool = True
    reconcile: bool = False
    drain_timeout_s: float = 30.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("workers", "max_uploads", "hash_threads", "max_attempts", "processes"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"--{name.replace('_', '-')} must be at least 1")
        for name, (k, n) in (("--shard", self.shard), ("--part", self.part)):
            if not 1 <= k <= n:
                raise InvalidInputError(f"{name} {k}/{n}: K must be between 1 and N")
        if self.processes > MAX_PROCESSES:
            raise InvalidInputError(f"--processes must be at most {MAX_PROCESSES}")
        if self.processes > 1 and (self.local or self.manifest == "-"):
            raise InvalidInputError(
                "--processes above 1 needs a manifest file and an endpoint: not --local"
                " or a manifest on stdin"
            )
        if not self.drain_timeout_s >= 0:
            raise InvalidInputError("--drain-timeout must be 0 or more seconds")
        if not 0 < self.max_retry_after_s < float("inf"):
            raise InvalidInputError("--max-retry-after must be more than 0 seconds")
        if self.rate_per_s is not None:
            check_rate(self.rate_per_s, str(self.rate_per_s))
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url)

    def journal_path(self) -> Path:
        """Where the journal lives."""
        if self.journal is not None:
            return self.journal
        folder = Path.cwd() if self.manifest == "-" else Path(self.manifest).resolve().parent
        return folder / ".uploader" / "journal.sqlite"

    def manifest_defaults(self) -> dict[str, object]:
        """Fields every manifest entry inherits unless it (or the file's defaults) sets them."""
        fields = {
            "domain": self.domain,
            "domain_owner": self.domain_owner,
            "repository": self.repository,
            "namespace": self.namespace,
            "status": None if self.status is None else self.status.value,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def rate_limits(self) -> RateLimits:
        """The shared rate limits: AWS's quotas, with the publish rate overridden.

        A publish is also an account write, so a publish rate above the write quota
        raises the write rate with it: otherwise `--rate` could never take effect.
        """
        rates: dict[Family, float] = dict(DEFAULT_RATES_PER_S)
        if self.rate_per_s is not None:
            rates[Family.PUBLISH] = self.rate_per_s
            rates[Family.WRITE] = max(c.ACCOUNT_WRITE_RATE_PER_S, self.rate_per_s * 1.25)
        parts = self.part[1]  # processes sharing the run share its quotas
        rates = {family: rate / parts for family, rate in rates.items()}
        if not self.rate_auto:
            return RateLimits(rates)
        # `auto` starts at the published quota and probes upwards, slowly, to the account's
        # write quota (no publish rate can exceed it): quotas are adjustable, and AIMD finds
        # the one this account has. A throttle halves the rate; success adds 1/s per second.
        return RateLimits(
            rates,
            adaptive=AdaptivePolicy(increase_fraction_per_s=AUTO_STEP_PER_S / AUTO_CEILING_PER_S),
            ceilings_per_s={Family.PUBLISH: AUTO_CEILING_PER_S / parts},
        )


def parse_shard(text: str, env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """`K/N` -> (k, n), or `auto` from the job's environment; InvalidInputError otherwise.

    `auto`: K is a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` or an AWS Batch array
    job's `AWS_BATCH_JOB_ARRAY_INDEX` (both 0-based), N is `UPLOADER_SHARDS` or
    `AWS_BATCH_JOB_ARRAY_SIZE`.
    """
    if text.strip().lower() == "auto":
        return _shard_from_env(env)
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit()) or not 1 <= int(k) <= int(n):
        raise InvalidInputError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/8")
    return int(k), int(n)


def _shard_from_env(env: Mapping[str, str]) -> tuple[int, int]:
    index = env.get("JOB_COMPLETION_INDEX") or env.get("AWS_BATCH_JOB_ARRAY_INDEX")
    size = env.get("UPLOADER_SHARDS") or env.get("AWS_BATCH_JOB_ARRAY_SIZE")
    if index is None or size is None:
        raise InvalidInputError(
            "--shard auto: needs JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX, and"
            " UPLOADER_SHARDS or AWS_BATCH_JOB_ARRAY_SIZE"
        )
    return parse_shard(f"{int(index) + 1 if index.isdigit() else index}/{size}", {})


def parse_rate(text: str) -> tuple[float | None, bool]:
    """`--rate` as (publish rate per second, adaptive?): a positive number, or `auto`."""
    if text.strip().lower() == "auto":
        return None, True
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    return check_rate(rate, text), False


def check_rate(rate_per_s: float, text: str) -> float:
    """A publish rate within bounds: at least `MIN_RATE_PER_S`, finite."""
    if not c.MIN_RATE_PER_S <= rate_per_s < float("inf"):
        raise InvalidInputError(
            f"--rate {text!r}: expected requests per second (at least {c.MIN_RATE_PER_S:g}) or auto"
        )
    return rate_per_s


def check_endpoint_url(url: str) -> str:
    """An endpoint URL without a user name or password; InvalidInputError otherwise.

    SigV4 signs every request, so userinfo cannot authenticate anything (aiohttp refuses
    it beside an Authorization header); refusing it early also keeps a password out of
    every message and log. The error never repeats the URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInputError("--endpoint-url: not a URL") from None
    if "@" in parts.netloc:
        raise InvalidInputError(
            "--endpoint-url: must not hold a user name or password (user:pass@): requests"
            " are signed with AWS credentials, which come the AWS ways"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("--endpoint-url: expected http://HOST[:PORT] or https://...")
    return url


AWS_ENDPOINT_VARIABLES: Final = ("AWS_ENDPOINT_URL_CODEARTIFACT", "AWS_ENDPOINT_URL")


def check_endpoint_env(env: Mapping[str, str] = os.environ) -> None:
    """The AWS endpoint variables botocore reads obey `check_endpoint_url`'s rule too."""
    for name in AWS_ENDPOINT_VARIABLES:
        if value := env.get(name):
            try:
                check_endpoint_url(value)
            except InvalidInputError as error:
                raise InvalidInputError(str(error).replace("--endpoint-url", name, 1)) from None


def load_config_file(path: Path, known: set[str]) -> dict[str, object]:
    """The `[run]` table of a TOML settings file, keys as parameter names.

    Keys may use dashes or underscores (`max-uploads`, `max_uploads`). A key outside
    `known` (every setting of any command) is an InvalidInputError naming the file and
    the key, with the closest known key, so a typo never goes unnoticed.
    """
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: not valid TOML: not UTF-8 (byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(f"{path}: not valid TOML: {error}") from None
    table = data.get(CONFIG_TABLE, {})
    if not isinstance(table, dict):
        raise InvalidInputError(f"{path}: [{CONFIG_TABLE}] must be a table")
    values = {key.replace("-", "_"): value for key, value in table.items()}
    for key in values:
        if key not in known:
            raise InvalidInputError(f"{path}: {CONFIG_TABLE}.{key}: {_unknown(key, known)}")
    return values


def _unknown(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
    return "unknown setting" + hint
