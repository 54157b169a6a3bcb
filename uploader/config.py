"""Run settings: one typed object, the only source of defaults, help text and checks.

Every setting is a field of `RunSettings` with a `Setting` beside it (`setting(...)`):
its default, its help, its kind (how it is written and checked) and the commands that
take it. cli.py builds each command's click options from that table; the config file's
`[run]` keys, the `UPLOADER_*` variables, `config show` and the JSON a `--processes`
child reads all follow it. A new setting is one field here and its use, nothing else.

Why dataclasses, not pydantic: the settings are ~30 flat fields of five kinds; a kind
object per field (`Count`, `Seconds`, `Switch`, `Text`, `FilePath`, `Choice`, `Parsed`)
gives click its type, checks a value built in code, and writes it to and reads it from
JSON in a few lines each, with no second model of the same fields and no new
dependency. Every value a user writes passes one parser: the click types call the same
`check`/`parse` that `RunSettings.__post_init__` calls.

AWS settings come the AWS ways (profile, env, container role,
`AWS_ENDPOINT_URL_CODEARTIFACT`) and are only passed through when given. Every command
reads the same `[run]` table: a key a command does not use is ignored by it, a key no
command knows is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from uploader import constants as c
from uploader.domain import TargetStatus
from uploader.errors import InvalidInputError
from uploader.limits import DEFAULT_RATES_PER_S, AdaptivePolicy, Family, RateLimits
from uploader.logs import LogFormat
from uploader.setting import (
    DEFAULTS,
    ENDPOINT,
    JOURNAL,
    MANIFEST,
    ONE_RUN,
    RUN_AND_SERVE,
    RUN_ONLY,
    SETTING,
    SOURCES,
    VERIFY_ONLY,
    WORK,
    Choice,
    Command,
    Count,
    FilePath,
    Parsed,
    Seconds,
    Setting,
    Switch,
    Text,
    setting,
)
from uploader.sources.headers import parse_source_header

DEFAULT_LOCAL_DIR: Final = Path(".uploader/emulator")
AUTO_CEILING_PER_S: Final = c.ACCOUNT_WRITE_RATE_PER_S
MAX_PROCESSES: Final = 64
MAX_PORT: Final = 65535
AUTO_STEP_PER_S: Final = 1.0  # publishes/s added per second of success under --rate auto
# Under --rate auto, how far above its share one of several shards may probe: enough to
# take up a share another shard leaves, not enough for N shards to overrun the quota N-fold.
SHARD_HEADROOM: Final = 1.2
LOCAL_CREDENTIALS: Final = ("local", "local")  # the embedded emulator accepts any signer
CONFIG_TABLE: Final = "run"  # the one table of a config file every command reads


class Rate(NamedTuple):
    """`--rate`: a publish rate per second (None: AWS's quota), or adaptive (`auto`)."""

    per_s: float | None = None
    auto: bool = False

    def __str__(self) -> str:
        if self.auto or self.per_s is None:
            return "auto"
        short = f"{self.per_s:g}"  # `20`, not `20.0`; but never a rounded figure
        return short if float(short) == self.per_s else repr(self.per_s)


# --- the parsers: the one place a written value is read -----------------------------------


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


def parse_part(text: str) -> tuple[int, int]:
    """`J/M`, as `--shard` but never from the environment (the parent sets it)."""
    try:
        return parse_shard(text, env={})
    except InvalidInputError as error:
        raise InvalidInputError(str(error).replace("--shard", "--part", 1)) from None


def show_share(share: tuple[int, int]) -> str:
    """(k, n) as `k/n`."""
    return f"{share[0]}/{share[1]}"


def parse_rate(text: str) -> Rate:
    """`--rate` as a Rate: a positive number (at least `MIN_RATE_PER_S`), or `auto`."""
    if text.strip().lower() == "auto":
        return Rate(None, auto=True)
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not c.MIN_RATE_PER_S <= rate < float("inf"):
        raise InvalidInputError(
            f"--rate {text!r}: expected requests per second (at least {c.MIN_RATE_PER_S:g}) or auto"
        )
    return Rate(rate)


class Address(NamedTuple):
    """`--metrics-addr`: a host (name or address) and a port (0: any free one)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_ADDRESS: Final = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.%]+)\]|(?P<host>[^\s:/\[\]]+)):(?P<port>\d{1,5})"
)  # an IPv6 address in brackets, or a name or IPv4 address; a port


def parse_address(text: str) -> Address:
    """`--metrics-addr`: `HOST:PORT`, an IPv6 host in brackets (`[::1]:9100`), port 0-65535."""
    match = _ADDRESS.fullmatch(text.strip())
    if match is None or int(match["port"]) > MAX_PORT:
        raise InvalidInputError(
            f"--metrics-addr {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:0"
            " (port 0: any free port)"
        )
    return Address(match["v6"] or match["host"], int(match["port"]))


_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([hms]?)")
_UNIT_S: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """`--max-duration`: seconds, or `1h30m`, `45m`, `90s` (as rclone writes them)."""
    spaced = text.strip().lower()
    parts = list(_DURATION_PART.finditer(spaced))
    whole = "".join(p.group(0) for p in parts) == spaced and spaced
    bare = [p for p in parts if not p.group(2)]
    seconds = sum(float(p.group(1)) * _UNIT_S[p.group(2)] for p in parts)
    if not whole or (bare and len(parts) > 1) or not 0 < seconds < float("inf"):
        raise InvalidInputError(
            f"--max-duration {text!r}: expected a duration above 0: seconds, or e.g. 1h30m, 45m"
        )
    return seconds


def show_duration(seconds: float) -> str:
    """A duration as `parse_duration` reads it: `1h30m`, `45s`, or `2.5s`."""
    if seconds != int(seconds):
        return f"{seconds!r}s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    shown = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return shown or "0s"


def check_source_header(text: str) -> str:
    """`Name: value` (the value may be `env:VAR`, then $VAR must be set); InvalidInputError
    naming the header, never its value."""
    parse_source_header(text)
    return text


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


_LOG_FORMATS: Final = ("auto", "console", "json")
_URL: Final = Parsed(check_endpoint_url, str, "URL")
_SHARD: Final = Parsed(parse_shard, show_share, "K/N|auto")
_HEADER: Final = Parsed(check_source_header, str, "'NAME: VALUE'")
DEFAULT_SPOOL_BYTES: Final = 2 * 1024**3


# --- the settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """Everything `uploader run` needs; `verify`, `validate` and `status` take a part.

    `manifest` is a path, or `-` for JSON Lines on stdin. Every other field is a setting:
    its help is the documentation (`uploader run --help`, config/uploader.toml).
    """

    manifest: str
    # What a manifest's entries inherit unless they (or the file's defaults) say.
    domain: str | None = setting(None, "Default domain of entries.", Text(), DEFAULTS)
    domain_owner: str | None = setting(
        None, "Account owning the domain (12 digits).", Text(), DEFAULTS, metavar="ACCOUNT"
    )
    repository: str | None = setting(None, "Default repository of entries.", Text(), DEFAULTS)
    namespace: str | None = setting(None, "Default namespace of entries.", Text(), DEFAULTS)
    status: TargetStatus | None = setting(
        None, "Default final status of versions (Published unless the manifest says).",
        Choice(tuple(s.value for s in TargetStatus), TargetStatus), DEFAULTS,
    )  # fmt: skip
    allow_outside: bool = setting(
        False, "Let asset paths resolve outside the manifest's folder.", Switch(), MANIFEST
    )
    asset_root: Path | None = setting(
        None, "Relative asset paths start in this folder and must resolve inside it "
        "(default: the manifest's folder).", FilePath(folder=True), MANIFEST,
        metavar="DIRECTORY",
    )  # fmt: skip
    shard: tuple[int, int] = setting(
        (1, 1), "Take the K-th of N shares of the packages (for parallel jobs).", _SHARD,
        MANIFEST,
    )  # fmt: skip
    parallel: int | None = setting(
        None, "Shards running at once: --rate is the whole job's, each shard takes 1/P of it "
        "(default: N of --shard K/N; set it to a Kubernetes Indexed Job's parallelism).",
        Count(), ONE_RUN, metavar="P",
    )  # fmt: skip
    # Where the service is.
    region: str | None = setting(
        None, "AWS region (also AWS_REGION, then AWS_DEFAULT_REGION; default: the profile's).",
        Text(), ENDPOINT, envvars=("AWS_REGION", "AWS_DEFAULT_REGION"),
    )  # fmt: skip
    profile: str | None = setting(None, "AWS named profile.", Text(), ENDPOINT)
    endpoint_url: str | None = setting(
        None, "Another endpoint, e.g. an emulator (AWS_ENDPOINT_URL_CODEARTIFACT works too).",
        _URL, ENDPOINT,
    )  # fmt: skip
    local: bool = setting(
        False,
        {Command.RUN: "Start the embedded emulator and upload to it.",
         Command.VERIFY: "Check against the embedded emulator's data (as `run --local` left it)."},
        Switch(), ONE_RUN,
    )  # fmt: skip
    local_dir: Path = setting(
        DEFAULT_LOCAL_DIR, "Where --local keeps the emulator's data.", FilePath(folder=True),
        ONE_RUN, metavar="DIRECTORY",
    )  # fmt: skip
    # Where remote assets (`url`) are read: their own settings, never the target's.
    source_profile: str | None = setting(
        None, "AWS profile for s3:// assets (the target's --profile is not used for them).",
        Text(), SOURCES,
    )  # fmt: skip
    source_region: str | None = setting(None, "AWS region of s3:// assets.", Text(), SOURCES)
    source_endpoint_url: str | None = setting(
        None, "An S3-compatible endpoint for s3:// assets (AWS_ENDPOINT_URL_S3 works too).",
        _URL, SOURCES,
    )  # fmt: skip
    source_header: str | None = setting(
        None, "A header for http(s):// assets, sent to each URL's own host only, never after "
        "a redirect to another; `env:VAR` reads the value from $VAR (default: ~/.netrc).",
        _HEADER, SOURCES,
    )  # fmt: skip
    allow_http: bool = setting(
        False, "Read http:// asset URLs (plain text, so off unless asked).", Switch(), SOURCES
    )
    spool_dir: Path | None = setting(
        None, "Where remote assets without a declared SHA-256 are downloaded to before they "
        "are sent (over 8 MiB; smaller ones stay in memory; default: the temp folder).",
        FilePath(folder=True), SOURCES, metavar="DIRECTORY",
    )  # fmt: skip
    spool_bytes: int = setting(
        DEFAULT_SPOOL_BYTES, "The most bytes all spooled downloads hold at once, memory "
        "and disk.", Count(), SOURCES, metavar="BYTES",
    )  # fmt: skip
    download: bool = setting(
        True, "Check remote assets by downloading and hashing them; --no-download compares "
        "the SHA-256 their stores (or the manifest) declare, reading no byte.", Switch(),
        VERIFY_ONLY,
    )  # fmt: skip
    # How hard to work, and what to show.
    workers: int = setting(
        8, {Command.RUN: "Versions in flight at once.",
            Command.VERIFY: "Versions checked at once."}, Count(), WORK,
    )  # fmt: skip
    hash_threads: int = setting(2, "Threads hashing files.", Count(), WORK)
    max_attempts: int = setting(
        c.MAX_ATTEMPTS, "Attempts per request, the first included.", Count(), WORK
    )
    max_retry_after_s: float = setting(
        c.MAX_RETRY_AFTER_S, "Longest wait a server's Retry-After can impose; past it we "
        "wait this long and count the attempt.", Seconds(above=True), WORK, metavar="SECONDS",
    )  # fmt: skip
    report: Path | None = setting(
        None, {Command.RUN: "Write a JSON report here.",
               Command.VERIFY: "Write the differences here as JSON."},
        FilePath(), ONE_RUN,
    )  # fmt: skip
    log_format: LogFormat = setting(
        "auto", "Log lines for people or for machines (auto: console on a terminal).",
        Choice(_LOG_FORMATS), WORK,
    )  # fmt: skip
    progress: bool = setting(
        True, "The progress display (there is none anyway when stderr is not a terminal).",
        Switch(), ONE_RUN,
    )  # fmt: skip
    # What only `run` does.
    max_uploads: int = setting(16, "Asset uploads in flight at once.", Count(), RUN_AND_SERVE)
    rate: Rate | None = setting(
        None, f"Publish rate (default: AWS's quota, 10/s; at least {c.MIN_RATE_PER_S:g}); "
        "`auto` adapts to throttling.", Parsed(parse_rate, str, "REQ_PER_S|auto"), RUN_AND_SERVE,
    )  # fmt: skip
    dry_run: bool = setting(False, "Validate and hash; send nothing.", Switch(), RUN_ONLY)
    journal: Path | None = setting(
        None, "Resume journal (default: .uploader/journal.sqlite beside the manifest).",
        FilePath(), JOURNAL,
    )  # fmt: skip
    resume: bool = setting(
        True, "Trust what the journal remembers (--no-resume: ask the service about every "
        "version and hash every file again; the journal is still written).", Switch(),
        RUN_ONLY,
    )  # fmt: skip
    reconcile: bool = setting(
        False, "Ask the service about every version, even those the journal says are done "
        "(unchanged files are not hashed again).", Switch(), RUN_ONLY,
    )  # fmt: skip
    max_duration_s: float | None = setting(
        None, "Stop starting new versions after this long (e.g. 1h30m), drain as on SIGTERM "
        "and exit 4; a rerun continues.", Parsed(parse_duration, show_duration, "DURATION"),
        RUN_ONLY,
    )  # fmt: skip
    drain_timeout_s: float = setting(
        30.0, "After SIGINT/SIGTERM, seconds requests in flight may take.", Seconds(),
        RUN_AND_SERVE, metavar="SECONDS",
    )  # fmt: skip
    processes: int = setting(
        1, "Processes sharing the run, each with its own connections, and 1/N of the rates "
        "(for endpoints that allow more than one process can send).",
        Count(maximum=MAX_PROCESSES), RUN_ONLY,
    )  # fmt: skip
    metrics_addr: Address | None = setting(
        None, "Serve Prometheus metrics at http://HOST:PORT/metrics while the run runs "
        "(port 0: any free port, logged).", Parsed(parse_address, str, "HOST:PORT"), RUN_ONLY,
    )  # fmt: skip
    metrics_file: Path | None = setting(
        None, "Write Prometheus metrics to this file at the end of the run, whatever its "
        "outcome (node_exporter's textfile format: name it *.prom).", FilePath(), RUN_ONLY,
        metavar="PATH",
    )  # fmt: skip
    part: tuple[int, int] = setting(
        (1, 1), "This process's share of a --processes run (set by the parent).",
        Parsed(parse_part, show_share, "J/M"), RUN_ONLY, hidden=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name, spec in settings_of().items():
            value = getattr(self, name)
            if value is not None:
                spec.kind.check(flag_of(name), value)
        if self.processes > 1 and (self.local or self.manifest == "-"):
            raise InvalidInputError(
                "--processes above 1 needs a manifest file and an endpoint: not --local"
                " or a manifest on stdin"
            )
        if self.parallel is not None and self.parallel > self.shard[1]:
            raise InvalidInputError(
                f"--parallel {self.parallel}: more shards at once than the {self.shard[1]}"
                " of --shard"
            )
        if self.processes > 1 and (self.metrics_addr or self.metrics_file):
            raise InvalidInputError("--metrics-addr and --metrics-file need --processes 1")

    def shards_at_once(self) -> int:
        """How many shards of the job run at the same time (they share its rate)."""
        return self.parallel if self.parallel is not None else self.shard[1]

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
        if self.rate is not None and self.rate.per_s is not None:
            rates[Family.PUBLISH] = self.rate.per_s
            rates[Family.WRITE] = max(c.ACCOUNT_WRITE_RATE_PER_S, self.rate.per_s * 1.25)
        # The rates are the whole job's: shards running at once, and the processes of one
        # shard's run, each take their share.
        sharing = self.part[1] * self.shards_at_once()
        rates = {family: rate / sharing for family, rate in rates.items()}
        if self.rate is None or not self.rate.auto:
            return RateLimits(rates)
        # `auto` starts at the published quota's share and probes upwards, slowly, to the
        # account's write quota (no publish rate can exceed it): quotas are adjustable, and
        # AIMD finds the one this account has. A throttle halves the rate; success adds
        # 1/s per second to the whole job, so 1/N of it to each of N shards (N shards each
        # adding 1/s would probe N times as fast and mostly find throttles).
        ceiling = AUTO_CEILING_PER_S / sharing
        if self.shards_at_once() > 1:
            ceiling *= SHARD_HEADROOM
        step = AUTO_STEP_PER_S / sharing
        return RateLimits(
            rates,
            adaptive=AdaptivePolicy(increase_fraction_per_s=step / ceiling),
            ceilings_per_s={Family.PUBLISH: ceiling},
        )

    def to_json(self) -> dict[str, Any]:
        """These settings as JSON values; `from_json` reads them back equal."""
        values: dict[str, Any] = {"manifest": self.manifest}
        for name, spec in settings_of().items():
            value = getattr(self, name)
            values[name] = None if value is None else spec.kind.to_json(value)
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> RunSettings:
        """Settings from `to_json`'s values (checked again, as any settings are)."""
        specs = settings_of()
        read: dict[str, Any] = {
            name: None if value is None else specs[name].kind.from_json(value)
            for name, value in values.items()
            if name in specs
        }
        return cls(manifest=str(values["manifest"]), **read)


@functools.cache
def settings_of() -> Mapping[str, Setting]:
    """Every setting of RunSettings by field name, in their order."""
    fields = dataclasses.fields(RunSettings)
    return MappingProxyType({f.name: f.metadata[SETTING] for f in fields if SETTING in f.metadata})


def default_of(name: str) -> Any:
    """A setting's default value."""
    return next(f.default for f in dataclasses.fields(RunSettings) if f.name == name)


def flag_of(name: str) -> str:
    """A setting's flag: the field's name with dashes, without a unit suffix (`_s`)."""
    return "--" + name.removesuffix("_s").replace("_", "-")


def key_of(name: str) -> str:
    """A setting's key in the config file and in `config show` (`max_retry_after`)."""
    return flag_of(name)[2:].replace("-", "_")


def envvar_of(name: str) -> str:
    """A setting's own variable: `UPLOADER_` and its key in capitals."""
    return "UPLOADER_" + key_of(name).upper()


def load_config_file(path: Path) -> dict[str, object]:
    """The `[run]` table of a TOML settings file, by RunSettings field name.

    Keys are the flags' names, with dashes or underscores (`max-uploads`, `max_uploads`).
    A key no command takes is an InvalidInputError naming the file and the key, with the
    closest known key, so a typo never goes unnoticed.
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
    names = {key_of(name): name for name, spec in settings_of().items() if not spec.hidden}
    values = {}
    for key, value in table.items():
        normal = key.replace("-", "_")
        if normal not in names:
            raise InvalidInputError(f"{path}: {CONFIG_TABLE}.{normal}: {_unknown(normal, names)}")
        values[names[normal]] = value
    return values


def _unknown(key: str, known: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
    return "unknown setting" + hint
