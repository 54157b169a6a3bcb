"""Bearer tokens for the service: where they come from, how a request is checked.

Every endpoint but `/healthz` needs `Authorization: Bearer TOKEN`. Tokens come from
`UPLOADER_API_TOKENS` (comma or whitespace separated) and `--token-file` (one per line,
`#` comments): several at once, so a token can be rotated without a restart gap. A
presented token is compared with every configured one in constant time
(`hmac.compare_digest`, each comparison made whatever the outcome of the others), and
never logged, stored in a job or used as a label. A failure is 401 with
`WWW-Authenticate: Bearer`, the same answer for a missing and a wrong token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from uploader.errors import InvalidInputError

TOKENS_ENVVAR: Final = "UPLOADER_API_TOKENS"
OPEN_PATHS: Final = frozenset({"/healthz"})
MIN_TOKEN_CHARS: Final = 16
_SEPARATORS: Final = re.compile(r"[,\s]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def load_tokens(token_files: Iterable[Path], environ: dict[str, str] | None = None) -> list[str]:
    """The configured tokens: the environment variable's, then each file's lines.

    Raises InvalidInputError for an unreadable file or a token too short to be a secret.
    """
    env = os.environ if environ is None else environ
    tokens = [t for t in _SEPARATORS.split(env.get(TOKENS_ENVVAR, "")) if t]
    for path in token_files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInputError(f"--token-file {path}: cannot read it ({error})") from None
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    short = [t for t in tokens if len(t) < MIN_TOKEN_CHARS]
    if short:
        raise InvalidInputError(
            f"API tokens must be at least {MIN_TOKEN_CHARS} characters ({len(short)} shorter)"
        )
    return tokens


def check_can_start(tokens: Sequence[str], host: str, *, insecure_no_auth: bool) -> None:
    """Refuse to serve without a token, unless asked to and only on a loopback address."""
    if tokens:
        if insecure_no_auth:
            raise InvalidInputError("--insecure-no-auth and API tokens: choose one")
        return
    if not insecure_no_auth:
        raise InvalidInputError(
            f"no API token: set {TOKENS_ENVVAR} or --token-file (or --insecure-no-auth, "
            "on a loopback address only)"
        )
    if not is_loopback(host):
        raise InvalidInputError(f"--insecure-no-auth needs a loopback --host, not {host!r}")


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_middleware(tokens: Sequence[str]) -> Middleware:
    """An aiohttp middleware that lets a request through only with a configured token."""
    expected = [t.encode() for t in tokens]

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected and request.path not in OPEN_PATHS and not _authorized(request, expected):
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Bearer realm="uploader"'},
                text='{"error": "unauthorized: a valid bearer token is required"}',
                content_type="application/json",
            )
        return await handler(request)

    return check


def _authorized(request: web.Request, expected: Sequence[bytes]) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    given = presented.strip().encode()
    matches = [hmac.compare_digest(given, token) for token in expected]  # all compared
    return any(matches)
