"""The bounded YAML reader every loader uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew import yamlio
from callcrew.yamlio import YamlFileError

pytestmark = pytest.mark.unit


def test_plain_yaml_anchors_and_merge_keys_still_work() -> None:
    data = yamlio.load("base: &b {x: 1}\nchild: {<<: *b, y: 2}\nlist: &l [1, 2]\nagain: *l\n")
    assert data == {"base": {"x": 1}, "child": {"x": 1, "y": 2}, "list": [1, 2], "again": [1, 2]}
    assert yamlio.load("") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]", "a recursive alias"),
        ("[" * 5000 + "]" * 5000, "nesting"),
        ("a: [", "not valid YAML at line"),
        ("--- 1\n--- 2\n", "not valid YAML"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(YamlFileError, match=reason.replace("[", r"\[")):
        yamlio.load(text)


def test_alias_budget() -> None:
    # 10 anchors of 10 aliases each: 10**4 expanded nodes, inside the budget.
    ok = "a: &a [1,2,3,4,5,6,7,8,9,0]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abc", "bcd", strict=True)
    )
    assert len(yamlio.load(ok)["d"]) == 10
    bomb = ok + "e: &e [" + ", ".join(["*d"] * 10) + "]\nf: [" + ", ".join(["*e"] * 10) + "]\n"
    with pytest.raises(YamlFileError, match="at most 100,000 may come from aliases"):
        yamlio.load(bomb)


def test_read_text_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * 11)
    with pytest.raises(YamlFileError, match="larger than"):
        yamlio.read_text(big, max_bytes=10)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"ok\n\xc3\x28")
    with pytest.raises(YamlFileError, match=r"not UTF-8 text \(byte 0xc3 at offset 3\)"):
        yamlio.read_text(bad)
    with pytest.raises(YamlFileError, match="is a folder"):
        yamlio.read_text(tmp_path)
    with pytest.raises(FileNotFoundError):
        yamlio.read_text(tmp_path / "missing.yaml")
