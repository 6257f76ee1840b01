r"""Where each key of a TOML file stands, so that scenario errors can name file:line:key.

TOML parsers do not report positions, so :func:`key_lines` scans the text: the first line that
sets a key inside its table section (headers ``[...]`` / ``[[...]]`` are tracked, including
arrays of tables, dotted keys, inline tables and one-table-per-line arrays). A key whose line
cannot be told apart gets the line of its enclosing key or table header.

>>> key_lines('[[fabric]]\nname = "a"\n[[fabric]]\nname = "b"\n')[("fabric", 1, "name")]
4
>>> format_path(("fabric", 1, "oversubscription"))
'fabric[1].oversubscription'
"""

from __future__ import annotations

import re

PathKey = tuple  # ("fabric", 1, "oversubscription")


_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_KEY_RE = re.compile(rf"^\s*({_KEY})\s*=(.*)$")
_ARRAY_HEADER_RE = re.compile(rf"^\s*\[\[\s*({_KEY})\s*\]\]")
_TABLE_HEADER_RE = re.compile(rf"^\s*\[\s*({_KEY})\s*\]")
_PART_RE = re.compile(rf"{_BARE}|{_QUOTED}")


def _parts(dotted: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in _PART_RE.findall(dotted)]


def _strip_strings(s: str) -> str:
    """The text with string literals blanked (so brackets inside strings do not count)."""
    return re.sub(_QUOTED, '""', s)


def _inline_keys(s: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"[{{,]\s*({_BARE})\s*=", _strip_strings(s))]


def key_lines(text: str) -> dict[PathKey, int]:
    """Map every key path and table path the text sets to the first line (1-based) that sets
    it. Paths are tuples with integer indices for arrays of tables: ``("fabric", 1, "leaves")``.
    """
    lines: dict[PathKey, int] = {}
    arrays: dict[PathKey, int] = {}  # array-of-tables path -> index of its last element
    current: PathKey = ()
    depth = 0  # open brackets of a multi-line value
    array_path: PathKey | None = None
    elem = 0
    ml_string: str | None = None

    def resolve(parts: list[str]) -> PathKey:
        out: PathKey = ()
        for p in parts:
            out += (p,)
            if out in arrays:
                out += (arrays[out],)
        return out

    for no, raw in enumerate(text.splitlines(), 1):
        if ml_string is not None:
            if raw.count(ml_string) % 2:
                ml_string = None
            continue
        line = _strip_strings(raw).split("#", 1)[0]
        if depth > 0:
            if array_path is not None and line.lstrip().startswith("{"):
                lines.setdefault(array_path + (elem,), no)
                for k in _inline_keys(raw):
                    lines.setdefault(array_path + (elem, k), no)
                elem += 1
            depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
            if depth <= 0:
                depth, array_path = 0, None
            continue
        m = _ARRAY_HEADER_RE.match(raw)
        if m:
            parts = _parts(m.group(1))
            base = resolve(parts[:-1]) + (parts[-1],)
            arrays[base] = arrays.get(base, -1) + 1
            current = base + (arrays[base],)
            lines.setdefault(base, no)
            lines.setdefault(current, no)
            continue
        m = _TABLE_HEADER_RE.match(raw)
        if m:
            current = resolve(_parts(m.group(1)))
            lines.setdefault(current, no)
            continue
        m = _KEY_RE.match(raw)
        if not m:
            continue
        path = current + tuple(_parts(m.group(1)))
        lines.setdefault(path, no)
        rest = m.group(2)
        for k in _inline_keys(rest):
            lines.setdefault(path + (k,), no)
        for q in ('"""', "'''"):
            if rest.count(q) % 2:
                ml_string = q
        bare = _strip_strings(rest).split("#", 1)[0]
        opened = bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")
        if opened > 0:
            depth, array_path, elem = opened, path, 0
    return lines


def format_path(path: PathKey) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out
