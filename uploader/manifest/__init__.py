"""The manifest: which versions to publish, with which assets, read as a stream of checked specs.

Formats, chosen by the file's extension:

    .yaml / .yml       a mapping with `versions` (a list) and optional `defaults`
    .json              the same mapping in JSON
    .jsonl / .ndjson   one version object per line; blank lines are skipped
    -                  JSON Lines from stdin
    anything else      sniffed: a first non-blank line holding one `{...}` object that is
                       not a whole manifest (no `versions` key) means JSON Lines, else YAML

`read_manifest` yields, in manifest order, a `VersionSpec` for each valid entry and every
`Problem` of each invalid one, so `uploader validate` can report them all in one run. JSON
Lines are read line by line, so memory does not grow with the manifest; YAML and JSON are
parsed whole but keep the line of every entry and field.

Nothing here raises on bad input: unreadable files, bad UTF-8, broken syntax, NUL bytes,
deep nesting and huge numbers all become Problems. Decisions the format leaves open:

* Values must be strings where names are expected: YAML reads `version: 1.10` as the
  number 1.1, so numbers, booleans and dates are refused with a hint to quote them.
* Merge precedence is caller defaults < file `defaults` < the entry; a null value in the
  caller's defaults means "not given" (an unset flag). Defaults are checked once, before
  any entry; if they are invalid, their problems are reported and reading stops, rather
  than repeating the same problem for every entry.
* An entry's `assets` replace those of the defaults; they are never concatenated.
* Asset paths are relative to the folder of the manifest as named (a symlinked manifest
  keeps its link's folder); the escape rule applies to the resolved target.
* An empty manifest is valid and holds no versions, in every format: an empty or blank
  file, a YAML file of comments only, or `versions: []` (an empty nightly scan piped to
  `run -` must not page anyone).
* An asset has a `path` (an `AssetSpec`) or a `url` (a `RemoteAssetSpec`): s3://,
  https://, or http://; both kinds sit in `VersionSpec.assets`, in the manifest's order.
* YAML merge keys (`<<`) are refused: `defaults` does the same job without the risk of
  exponential expansion.

The package, one concern per module (only the `Node` protocol crosses from the parsers to
the checks):

    spec        the values read: VersionSpec, Asset (AssetSpec, RemoteAssetSpec), Problem, Place
    reader      read_manifest, count_entries, batches; formats and sources
    lines       JSON Lines: reading and decoding line by line, limits
    jsonpos     whole-file JSON with the position of every value
    yamlnodes   YAML composed to nodes, scalars built on demand
    nodes       the Node protocol the checks see
    entries     top level, defaults, and each entry made into a VersionSpec
    fields      the rules of each field of a version and of an asset
    paths       asset path resolution and file checks
    urls        asset URLs (s3://, https://, http://): their forms, parsed
    duplicates  the same version named twice
"""

from uploader.domain import TargetStatus
from uploader.manifest.lines import MAX_LINE_BYTES
from uploader.manifest.reader import STDIN_NAME, batches, count_entries, read_manifest
from uploader.manifest.spec import Asset, AssetSpec, Place, Problem, RemoteAssetSpec, VersionSpec

__all__ = [
    "MAX_LINE_BYTES",
    "STDIN_NAME",
    "Asset",
    "AssetSpec",
    "Place",
    "Problem",
    "RemoteAssetSpec",
    "TargetStatus",
    "VersionSpec",
    "batches",
    "count_entries",
    "read_manifest",
]
