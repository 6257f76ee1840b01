"""The one set of argument checks, with one message style.

Every public function checks its arguments with these before doing any work. A failed check
raises a :class:`fabricsim.FabricError` subclass whose message starts with the argument's name
as the caller wrote it, then says what it must be and what it got::

    samples: must be an integer >= 1, got 0
    routing: unknown value 'spary'; valid: ecmp, spray

>>> integer("samples", 10)
10
>>> integer("samples", 0)
Traceback (most recent call last):
...
fabricsim.exceptions.InvalidArgumentError: samples: must be an integer >= 1, got 0
>>> choice("routing", "spary", ("ecmp", "spray"))
Traceback (most recent call last):
...
fabricsim.exceptions.UnknownNameError: routing: unknown value 'spary'; valid: ecmp, spray

Values are returned converted (``numpy.int64`` -> ``int``, ``numpy.float64`` -> ``float``) so
that nothing downstream meets a bool posing as a number or an overflowing numpy scalar.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError

#: Sizes are whole bytes, at most what an int64 holds (the engine's flow sizes).
MAX_SIZE_BYTES = 2**63 - 1
#: Seeds and ECMP flow keys are unsigned 64-bit integers.
MAX_SEED = 2**64


def is_real(value: Any) -> bool:
    """A real number that is not a bool (``numbers.Real`` covers numpy scalars)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """An integer that is not a bool (``numbers.Integral`` covers numpy integers)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_Name = TypeVar("_Name", bound=str)


def choice(name: str, value: Any, valid: Iterable[_Name]) -> _Name:
    """``value`` must be one of ``valid``; the error lists them. Returns it typed as one of
    them (a ``Literal`` type when ``valid`` is a tuple of one)."""
    names = tuple(valid)
    if not isinstance(value, str) or value not in names:
        raise UnknownNameError(f"{name}: unknown value {value!r}; valid: {', '.join(names)}")
    return names[names.index(value)]


def seed(value: Any, name: str = "seed") -> int:
    """An integer in [0, 2**64): seeds and ECMP flow keys."""
    if not is_integer(value) or not 0 <= value < MAX_SEED:
        raise InvalidArgumentError(f"{name}: must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def integer(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None)."""
    ok = is_integer(value) and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum:,}"
        raise InvalidArgumentError(f"{name}: must be an integer {bound}, got {shown(value)}")
    return int(value)


def real(
    name: str,
    value: Any,
    *,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    min_open: bool = False,
    max_open: bool = False,
) -> float:
    """A finite number in the interval the bounds give (``*_open``: the bound is excluded)."""
    try:
        x = float(value) if is_real(value) else math.nan
    except OverflowError:  # an int beyond float64 (10**400): out of any finite range
        x = math.nan
    ok = (
        math.isfinite(x)
        and (x > minimum if min_open else x >= minimum)
        and (x < maximum if max_open else x <= maximum)
    )
    if not ok:
        if maximum == math.inf:
            bound = f"{'>' if min_open else '>='} {minimum:g}"
        elif minimum == -math.inf:
            bound = f"{'<' if max_open else '<='} {maximum:g}"
        else:
            lo, hi = "(" if min_open else "[", ")" if max_open else "]"
            bound = f"in {lo}{minimum:g}, {maximum:g}{hi}"
        raise InvalidArgumentError(f"{name}: must be a finite number {bound}, got {shown(value)}")
    return x


def positive(
    name: str, value: Any, *, allow_zero: bool = False, upper: float | None = None
) -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``), at most ``upper`` if given."""
    return real(
        name,
        value,
        minimum=0.0,
        min_open=not allow_zero,
        maximum=math.inf if upper is None else upper,
    )


def probability(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    return real(name, value, minimum=0.0, maximum=1.0)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([KMGT]?)(i?)(B?)\s*$", re.I)


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (or numpy bool), else :class:`InvalidTypeError` naming
    ``name`` (a truthy string or number is not read as True)."""
    kind = type(value)
    if isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    ):
        return bool(value)
    raise InvalidTypeError(f"{name}: must be True or False, got {shown(value)}")


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` for an error message, shortened when it is long (a 400-digit integer
    shows as its first digits and its length)."""
    r = repr(value)
    if len(r) <= limit:
        return r
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{r[:12]}... (an integer of {len(r.lstrip('-'))} digits)"
    return f"{r[: limit - 3]}..."


def _describe(v: Any) -> str:
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def parse_size(value: Any) -> int:
    """Bytes from an integer, an integral float or a string like ``"8G"``, ``"1 GiB"``,
    ``"4MB"``: ``K``/``M``/``G``/``T`` and ``KiB``/``MiB``/... are powers of 1024 (as nccl-tests'
    ``-b 8 -e 8G``), ``KB``/``MB``/... powers of 1000. Raises ``ValueError`` (the scenario
    reader and the command line turn it into their own errors); no range check.

    >>> parse_size("8G"), parse_size("1GiB"), parse_size("4MB"), parse_size("1.5K")
    (8589934592, 1073741824, 4000000, 1536)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size in bytes, got {_describe(value)}")
    if is_integer(value):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return int(value)
        raise ValueError(f"expected a whole number of bytes, got {value!r}")
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            num, exp, unit, i, b = m.groups()
            x = float(num) * (10 ** int(exp) if exp else 1)
            unit = unit.upper()
            power = "KMGT".index(unit) + 1 if unit else 0
            base = 1000 if (b and not i and unit) else 1024
            x *= base**power
            if x == int(x):
                return int(x)
            raise ValueError(f"{value!r} is not a whole number of bytes")
    raise ValueError(
        f"expected a size in bytes (an integer or a string like '8G', '1GiB'), "
        f"got {_describe(value)}"
    )


def availability(name: str, value: Any) -> float:
    """A number in (0, 1]: the fraction of time a component is up."""
    return real(name, value, minimum=0.0, min_open=True, maximum=1.0)


def size_bytes(value: Any, name: str = "size_bytes") -> int:
    """A whole number of bytes in 1 .. 2**63 - 1: an integer, an integral float or a size
    string (``"64M"``, ``"1GiB"``, ``"4MB"``: see :func:`parse_size`)."""
    if isinstance(value, bool):
        raise InvalidTypeError(f"{name}: expected an integer number of bytes, got {value!r}")
    if isinstance(value, str):
        try:
            value = parse_size(value)
        except ValueError as e:
            raise InvalidArgumentError(f"{name}: {e}") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidArgumentError(f"{name}: must be a whole number of bytes, got {value!r}")
        value = int(value)
    if not is_integer(value):
        raise InvalidTypeError(
            f"{name}: expected an integer number of bytes or a size string "
            f"like '64M', got {value!r}"
        )
    if not 1 <= value <= MAX_SIZE_BYTES:
        raise InvalidArgumentError(f"{name}: must be between 1 and 2**63 - 1 bytes, got {value}")
    return int(value)


def iterable(name: str, value: Any, what: str = "values") -> list:
    """Any iterable (list, tuple, set, generator, numpy array...) as a list; a string, bytes or
    a non-iterable raises naming the argument and what it wants (``what``: e.g. "GPU labels")."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidTypeError(f"{name}: must be an iterable of {what}, got {value!r}")
    try:
        return list(value)
    except TypeError as e:  # an object whose __iter__ fails
        raise InvalidTypeError(
            f"{name}: must be an iterable of {what}, got {value!r} ({e})"
        ) from None


def name(what: str, value: Any) -> str:
    """A non-empty string (design names, labels printed in tables)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what}: must be a non-empty string, got {value!r}")
    return value


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: Any) -> str:
    """``str(text)`` with control characters (NUL, ESC of ANSI sequences, newlines...) escaped,
    so that a name read from a file cannot rewrite the terminal when printed.

    >>> printable("rail\\x1b[2Jx")
    'rail\\\\x1b[2Jx'
    """
    return str(text).translate(_CONTROL)
