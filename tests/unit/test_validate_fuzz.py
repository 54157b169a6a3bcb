"""`uploader validate` against 1,000 generated malformed manifests: exit 2, one line each."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from uploader.cli import main
from uploader.errors import ExitCode

NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
SAFE = st.from_regex(r"[a-z][a-z0-9]{1,8}", fullmatch=True)

KNOWN_KEYS = {"package", "version", "assets", "domain", "namespace", "status", "repository"}

# Each mutation makes one entry wrong in a way the service's rules forbid.
MUTATIONS: dict[str, Any] = {
    "bad package": st.sampled_from(["a b", "a/b", "#x", "", "x" * 256, "tab\there"]).map(
        lambda v: ("package", v)
    ),
    "version not a string": st.one_of(
        st.integers(),
        st.floats(allow_nan=True),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.just(10**400),
    ).map(lambda v: ("version", v)),
    "bad domain": st.sampled_from(["UPPER", "a", "-x-", "x" * 60, "ünï"]).map(
        lambda v: ("domain", v)
    ),
    "unknown key": SAFE.filter(lambda k: k not in KNOWN_KEYS).map(lambda k: (k, "x")),
    "no assets": st.just(("assets", [])),
    "bad status": st.sampled_from(["published", "Deleted", 3, None]).map(lambda v: ("status", v)),
    "missing file": NAME.map(lambda n: ("assets", [{"path": f"missing/{n}.bin"}])),
    "duplicate names": st.just(("assets", [{"path": "a.bin"}, {"path": "a.bin"}])),
    "bad sha256": st.sampled_from(["abc", "Z" * 64, 42]).map(
        lambda v: ("assets", [{"path": "a.bin", "sha256": v}])
    ),
    "control char in name": st.sampled_from(["\x00", "\x07", "\u200b", "\x7f"]).map(
        lambda c: ("assets", [{"path": "a.bin", "name": f"bad{c}name"}])
    ),
    "too many assets": st.just(
        ("assets", [{"path": "a.bin", "name": f"n{i}"} for i in range(151)])
    ),
    "escaping path": st.just(("assets", [{"path": "../outside.bin"}])),
}


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, str]:
    """(file name, text) of a manifest with at least one rule broken."""
    count = draw(st.integers(1, 4))
    versions: list[dict[str, Any]] = [
        {"package": draw(SAFE), "version": f"1.{i}", "assets": [{"path": "a.bin"}]}
        for i in range(count)
    ]
    kind = draw(st.sampled_from(sorted(MUTATIONS)))
    key, value = draw(MUTATIONS[kind])
    versions[draw(st.integers(0, count - 1))][key] = value
    document = {"defaults": {"domain": "d-1", "repository": "r1", "namespace": "n"},
                "versions": versions}  # fmt: skip
    form = draw(st.sampled_from(["yaml", "json", "jsonl", "broken"]))
    if form == "jsonl":
        lines = [json.dumps({**document["defaults"], **v}, default=str) for v in versions]
        return "m.jsonl", "\n".join(lines) + "\n"
    if form == "json":
        return "m.json", json.dumps(document, default=str)
    text = yaml.safe_dump(document, allow_unicode=True)
    if form == "broken":  # a YAML syntax error somewhere in an otherwise fine file
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["\n  - [unclosed", ": : :", "\t- x", "{"]))
        assume(_yaml_is_broken(text))  # the oracle: a cut may leave valid YAML (`version: n{`)
    return "m.yaml", text


def _yaml_is_broken(text: str) -> bool:
    """Whether PyYAML refuses the text: only then is a syntax error what `validate` must say."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return False


LINE = re.compile(r"^m\.(yaml|json|jsonl)(:\d+)?: .+")


# 1,000 examples under the "ci" profile (derandomized: the same ones every run); the "fuzz"
# profile's count (`make fuzz`) when larger.
@settings(max_examples=max(1000, settings.default.max_examples))
@given(malformed())
def test_every_malformed_manifest_is_exit_2_with_located_one_line_errors(
    case: tuple[str, str],
) -> None:
    """Any broken manifest: exit 2, every error line starts with file[:line], no traceback."""
    name, text = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "m"
        folder.mkdir()
        (folder / "a.bin").write_bytes(b"a")
        (Path(tmp) / "outside.bin").write_bytes(b"o")
        (folder / name).write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["validate", str(folder / name)])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line.replace(str(folder) + "/", "") for line in result.output.splitlines()]
    assert lines, "at least one problem is reported"
    assert all(LINE.match(line) for line in lines), lines
