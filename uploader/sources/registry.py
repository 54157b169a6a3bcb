"""`Sources`: the one `Source` a pipeline holds, choosing S3 or HTTP by each URL's scheme.

Each store's client is made on first use, so a manifest without `s3://` URLs needs no S3
credentials and one without `https://` URLs reads no netrc; all are closed together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from uploader.sources.base import Body, Source, SourceObject
from uploader.sources.errors import PermanentSourceError
from uploader.sources.http import HttpSettings, HttpSource
from uploader.sources.s3 import SCHEME as S3_SCHEME
from uploader.sources.s3 import S3Settings, S3Source

HTTP_SCHEMES = ("https://", "http://")


class Sources:
    """Every remote store of a run behind one `Source`.

    Use as `async with Sources(s3_settings, http_settings) as sources: ...`.

    Args:
        s3: how S3 is read.
        http: how HTTP(S) is read.
        environ: the environment the stores' settings are read from (tests pass their own).
    """

    def __init__(
        self,
        s3: S3Settings | None = None,
        http: HttpSettings | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._s3_settings = s3 or S3Settings()
        self._http_settings = http or HttpSettings()
        self._environ = environ
        self._opened: dict[str, Source] = {}
        self._lock = asyncio.Lock()
        self._stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return f"Sources(opened={sorted(self._opened)})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._opened.clear()
        await self._stack.aclose()

    async def for_url(self, url: str) -> Source:
        """The store that reads `url`, opened if this is its first URL."""
        kind = "s3" if url.startswith(S3_SCHEME) else "http" if url.startswith(HTTP_SCHEMES) else ""
        if not kind:
            raise PermanentSourceError(url, "not an s3:// or http(s):// URL", code="Scheme")
        async with self._lock:
            if kind not in self._opened:
                self._opened[kind] = await self._open(kind)
            return self._opened[kind]

    async def _open(self, kind: str) -> Source:
        if kind == "s3":
            return await self._stack.enter_async_context(
                S3Source(self._s3_settings, environ=self._environ)
            )
        return await self._stack.enter_async_context(
            HttpSource(self._http_settings, environ=self._environ)
        )

    async def stat(self, url: str) -> SourceObject:
        """What the URL's store declares about it (`Source.stat`)."""
        return await (await self.for_url(url)).stat(url)

    async def open(self, obj: SourceObject, *, start_byte: int = 0) -> Body:
        """The object's body from its store (`Source.open`)."""
        return await (await self.for_url(obj.url)).open(obj, start_byte=start_byte)
