"""Asset URLs: which locations beyond local files a manifest asset may name, and how.

This module owns the URL forms a manifest takes and the stores' scanners write:

    s3://BUCKET/KEY                  an S3 object (the current version)
    s3://BUCKET/KEY?versionId=ID     one version of it
    https://HOST/PATH                a file behind HTTPS (Artifactory, Nexus, any server)
    http://HOST/PATH                 the same in the clear (a sender asks for a flag)

The key and the path are percent-encoded as in any URL (a key's `%`, `?`, `#` and spaces
are written `%25`, `%3F`, `%23`, `%20`): `s3_url` writes them so and `parse_url` reads
them back, so every S3 key round-trips. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import urllib.parse
from dataclasses import dataclass
from typing import Final

__all__ = ["SourceURL", "UrlScheme", "parse_url", "s3_url"]

MAX_URL_CHARS: Final = 8192
"""Longer URLs are refused: S3 keys take 1024 bytes, and servers cut requests near 8 KiB."""
_KEY_SAFE: Final = "/!$&'()*+,;=:@"  # RFC 3986 sub-delims and pchar, kept as they are


class UrlScheme(enum.StrEnum):
    """Where a remote asset is read from."""

    S3 = "s3"
    HTTPS = "https"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class SourceURL:
    """A parsed asset URL: `host` is the bucket for S3, `path` the decoded key or path."""

    scheme: UrlScheme
    host: str
    path: str
    version_id: str | None = None

    @property
    def base_name(self) -> str:
        """The last segment of the key or path: the asset's name unless one is given."""
        return self.path.rstrip("/").rpartition("/")[2]


def s3_url(bucket: str, key: str, version_id: str | None = None) -> str:
    """The manifest's URL of an S3 object (`s3://bucket/a%20b.tgz?versionId=...`)."""
    url = f"s3://{bucket}/{urllib.parse.quote(key, safe=_KEY_SAFE)}"
    if version_id is None:
        return url
    return f"{url}?{urllib.parse.urlencode({'versionId': version_id})}"


def parse_url(text: str) -> SourceURL | str:
    """The URL's parts, or why a manifest cannot take it (a short reason)."""
    if len(text) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if not text.isprintable() or " " in text:
        return "must not hold spaces or control characters (percent-encode them)"
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as error:  # a bad IPv6 literal, ...
        return f"is not a URL ({error})"
    try:
        scheme = UrlScheme(parts.scheme.lower())
    except ValueError:
        known = ", ".join(f"{s}://" for s in UrlScheme)
        return f"{_shown_scheme(parts.scheme)} is not a source we read (use {known})"
    if parts.fragment or text.endswith("#"):
        return "must not have a fragment ('#...'; percent-encode '#' as %23)"
    return _s3(parts) if scheme is UrlScheme.S3 else _http(scheme, parts)


def _shown_scheme(scheme: str) -> str:
    return f"scheme {scheme + '://'!r}" if scheme else "a URL without a scheme"


def _s3(parts: urllib.parse.SplitResult) -> SourceURL | str:
    if not parts.netloc or parts.netloc != parts.hostname:
        return "s3:// needs a bucket name, without a user or a port (s3://BUCKET/KEY)"
    key = urllib.parse.unquote(parts.path.removeprefix("/"))
    if not key or key.endswith("/"):
        return "s3:// needs an object key after the bucket, not a folder (s3://BUCKET/KEY)"
    version_id = _version_id(parts.query)
    if version_id is not None and version_id.startswith("bad:"):
        return version_id.removeprefix("bad:")
    return SourceURL(UrlScheme.S3, parts.netloc, key, version_id)


def _version_id(query: str) -> str | None:
    """The `versionId`, None without a query, or `bad:` and the reason."""
    if not query:
        return None
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = []
    if len(pairs) != 1 or pairs[0][0] != "versionId" or not pairs[0][1]:
        return "bad:an s3:// URL takes one query parameter, ?versionId=ID"
    return pairs[0][1]


def _http(scheme: UrlScheme, parts: urllib.parse.SplitResult) -> SourceURL | str:
    try:
        host, _ = parts.hostname, parts.port  # the port is checked on reading it
    except ValueError as error:
        return f"has a bad port ({error})"
    if not host:
        return f"{scheme}:// needs a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (use ~/.netrc or --source-header)"
    path = urllib.parse.unquote(parts.path)
    if not path.rstrip("/"):
        return f"{scheme}:// needs the path of a file after the host"
    return SourceURL(scheme, host, path)
