"""The one way callcrew reads YAML: bounded in size, alias expansion and depth.

`yaml.safe_load` is safe from code execution but not from resources: a 500-byte file of nested
anchors ("billion laughs") expands to hundreds of millions of nodes once anything walks it
(pydantic validation did: 2.6 GB RSS), and deep nesting overflows the stack. Every loader
(scenario, profile, sip.yaml, price catalogs) reads through `read_text` + `load`, so:

- files are capped (`MAX_BYTES`; sip.yaml with 20k trunks is ~3 MB, so 16 MB leaves room);
- aliases may add at most `MAX_ALIAS_NODES` nodes beyond those written out in the file
  (counted on the composed node graph, memoised, so the count itself is linear);
- recursive aliases and nesting deeper than the interpreter's stack are refused.

Errors are `YamlFileError` with a reason; each loader prefixes its source name and re-raises
as its own error type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from callcrew.errors import UserError

MAX_BYTES = 16 * 1024 * 1024
# Merge keys (`<<: *defaults`) and repeated anchors in hand-written files add a few hundred
# nodes; a bomb adds millions.
MAX_ALIAS_NODES = 100_000


# libyaml's parser when PyYAML was built with it (the wheels are): the same safe constructor,
# ~10x faster than the pure-Python scanner on a large sip.yaml.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFileError(UserError):
    """The file cannot be read as bounded YAML; `reason` says why (without the file name)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's UTF-8 text. FileNotFoundError passes through (loaders word it themselves)."""
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise YamlFileError("is a folder, not a file") from None
    except OSError as exc:
        raise YamlFileError(f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise YamlFileError(f"larger than {max_bytes // (1024 * 1024)} MB; refusing to read it")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None


def load(text: str) -> Any:
    """Parse one YAML document with the safe loader, refusing alias bombs and deep nesting."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        written, expanded = _count(node)
        if expanded - written > MAX_ALIAS_NODES:
            raise YamlFileError(
                f"aliases (*name) expand to {expanded:,} nodes from {written:,} written; "
                f"at most {MAX_ALIAS_NODES:,} may come from aliases"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        detail = f": {problem}" if problem else ""
        raise YamlFileError(f"not valid YAML{where}{detail}") from None
    except RecursionError:
        raise YamlFileError("nested too deeply to read") from None
    finally:
        loader.dispose()


def _count(root: Node) -> tuple[int, int]:
    """(distinct nodes, nodes after expanding every alias); refuses a recursive alias."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlFileError("a recursive alias (an anchor used inside itself)")
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    expanded = size(root)
    return len(sizes), expanded
