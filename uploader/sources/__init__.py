"""Reading assets where they are: S3 and HTTP(S) stores, and a bounded spool.

- `base.py`: `Source` (stat, open), `SourceObject`, `SourceIdentity`, `Body`.
- `errors.py`: the errors, inside uploader's categories; `redacted` URLs.
- `s3.py`: `S3Source` (aioboto3, its own profile, region, endpoint).
- `http.py`: `HttpSource` (aiohttp, netrc or configured headers, bounded redirects).
- `spool.py`: `Spool`, for assets without a declared SHA-256: one download, hashed while
  written, in memory or a temp file, within a global byte budget.
- `body.py`: a source's body as the blocking file object `CodeArtifactClient.publish` takes.
- `registry.py`: `Sources`, the source for a URL by its scheme.
"""
