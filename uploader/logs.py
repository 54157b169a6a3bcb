"""structlog set-up: a console renderer on a terminal, JSON lines otherwise.

Logs go to stderr so that stdout stays for results (the summary, `listening on ...`).
A redaction step drops anything that looks like a credential before rendering, whatever
a caller binds: keys are matched by name, so `secret_access_key`, `Authorization` or
`session_token` never reach a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["auto", "console", "json"]

_SECRET_KEY = re.compile(r"secret|token|password|authorization|signature|credential", re.I)
REDACTED = "[redacted]"


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of any credential-like key."""
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


def configure_logging(
    log_format: LogFormat = "auto", *, level: str = "info", stream: TextIO | None = None
) -> None:
    """Set structlog up once per process.

    Args:
        log_format: `auto` picks console on a terminal and JSON otherwise.
        level: the least severe level written (`debug`, `info`, `warning`, `error`).
        stream: where lines go; stderr by default.
    """
    out = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    renderer: Any = (
        # ensure_ascii=False: a package named `café` is logged as such, not as `caf\u00e9`.
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
