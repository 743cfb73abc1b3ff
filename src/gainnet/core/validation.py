"""One validation layer for every settings dataclass, whatever the entry point.

Scenario parameters, expert settings, solver hyper-parameters, cycle configs and server
configs are frozen dataclasses that derive from :class:`Validated`. On construction (from
Python, TOML, JSON or ``--set key=value``) every field is checked against its annotation and
the bounds declared with :func:`setting`, and converted to its canonical type, before any work
starts:

- ``int``: an integer (an integral float such as ``1e4`` is accepted and converted; ``1.5``,
  ``True`` and ``"3"`` are not), within ``[low, high]``;
- ``float``: a finite real number (not a bool), within the bounds (``gt``/``lt`` are strict);
- ``bool``: ``True`` or ``False`` only;
- ``str`` and ``Literal[...]``: a string, one of ``choices`` where given;
- ``tuple[float, ...]``: a sequence of at most ``max_items`` numbers, each within the bounds;
- ``X | None``: ``None`` or a valid ``X``; ``float | tuple[float, ...]``: either.

Every upper bound is a size that fits a 24 GiB machine: a setting that would allocate tens of
gigabytes is refused here, with the field, the value and what is allowed, instead of ending in
a ``MemoryError`` or a segmentation fault later. Cross-field checks go in
:meth:`Validated.check`, which runs after the fields are valid.

>>> @dataclasses.dataclass(frozen=True)
... class Config(Validated):
...     hidden: int = setting(128, low=1, high=4096)
...     learning_rate: float = setting(1e-3, gt=0, high=1.0)
>>> Config(hidden=1.5)
InvalidConfigError: Config.hidden must be an integer in [1, 4096], got 1.5
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from gainnet.errors import InvalidConfigError

#: the most bytes one array built from a user-given size may take (a quarter of this machine)
MAX_ARRAY_BYTES = 6 << 30
#: the longest string setting accepted (names, paths)
MAX_STRING_CHARS = 4096
#: the most items of a sequence setting
DEFAULT_MAX_ITEMS = 10_000
_META_KEY = "gainnet"


@dataclasses.dataclass(frozen=True)
class Bounds:
    """What a field accepts beyond its type. ``low``/``high`` are inclusive, ``gt``/``lt``
    strict; ``choices`` lists allowed values; ``max_items`` bounds sequences."""

    low: float | None = None
    high: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    max_items: int = DEFAULT_MAX_ITEMS

    def describe(self) -> str:
        """``"in [1, 4096]"``, ``"> 0"``, ``"> 0 and <= 1"`` or ``""``."""
        lower = f"{_num(self.low)}" if self.low is not None else None
        upper = f"{_num(self.high)}" if self.high is not None else None
        if lower is not None and upper is not None:
            return f"in [{lower}, {upper}]"
        parts = []
        if self.low is not None:
            parts.append(f">= {lower}")
        if self.gt is not None:
            parts.append(f"> {_num(self.gt)}")
        if self.high is not None:
            parts.append(f"<= {upper}")
        if self.lt is not None:
            parts.append(f"< {_num(self.lt)}")
        return " and ".join(parts)

    def admits(self, value: float) -> bool:
        return not (
            (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
            or (self.gt is not None and value <= self.gt)
            or (self.lt is not None and value >= self.lt)
        )


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e16:
        return f"{int(value):,}".replace(",", "_") if abs(value) >= 1e5 else str(int(value))
    return f"{value:g}"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    max_items: int = DEFAULT_MAX_ITEMS,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with bounds (see the module doc); use as ``x: int = setting(3, low=1)``."""
    bounds = Bounds(low, high, gt, lt, None if choices is None else tuple(choices), max_items)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={_META_KEY: bounds}
    )


def range_setting(default: tuple[float, float], gt: float = 0.0, high: float = 1e30) -> Any:
    """A ``[low, high]`` field (both ``> gt`` and ``<= high``); :func:`check_ranges` checks
    ``low <= high``. Name it ``*_range``."""
    return setting(default, gt=gt, high=high, max_items=2)


def check_ranges(params: Any) -> None:
    """Every ``*_range`` field of ``params`` is ``[low, high]`` with ``low <= high``."""
    from gainnet.errors import InvalidConfigError

    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if field.name.endswith("_range") and (len(value) != 2 or value[1] < value[0]):
            raise InvalidConfigError(
                f"{field.name} must be [low, high] with low <= high, got {list(value)}",
                field.name,
                value,
            )


def bounds_of(field: dataclasses.Field) -> Bounds:
    """The :class:`Bounds` declared for ``field`` (no bounds if it was not declared)."""
    return field.metadata.get(_META_KEY, Bounds())


class Validated:
    """Mixin for frozen settings dataclasses: validates and converts every field on creation.

    Subclasses put cross-field checks in :meth:`check` (raise
    :class:`~gainnet.errors.InvalidConfigError`); they do not define ``__post_init__``.
    """

    _hints: ClassVar[dict[type, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        cls = type(self)
        hints = Validated._hints.get(cls)
        if hints is None:
            hints = typing.get_type_hints(cls)
            Validated._hints[cls] = hints
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            where = f"{cls.__name__}.{field.name}"
            value = coerce(getattr(self, field.name), hints[field.name], bounds_of(field), where)
            object.__setattr__(self, field.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field checks, after every field is valid; raise ``InvalidConfigError``."""

    def replace(self, **changes: Any) -> Any:
        """A validated copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _fail(where: str, allowed: str, value: Any) -> typing.NoReturn:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    kind = type(value).__name__
    raise InvalidConfigError(f"{where} must be {allowed}, got {text} ({kind})", where, value)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray) and not isinstance(value, str | bytes)


def coerce(value: Any, annotation: Any, bounds: Bounds, where: str) -> Any:
    """``value`` converted to ``annotation``'s canonical type, or :class:`InvalidConfigError`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        sequence_first = sorted(options, key=lambda a: typing.get_origin(a) is not tuple)
        order = sequence_first if _is_sequence(value) else options
        errors = []
        for option in order:
            try:
                return coerce(value, option, bounds, where)
            except InvalidConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        allowed = " or ".join(_describe(a, bounds) for a in options)
        if type(None) in args:
            allowed += " or None"
        _fail(where, allowed, value)
    if origin is Literal:
        if isinstance(value, bool) or value not in args or not isinstance(value, str | int):
            _fail(where, "one of " + ", ".join(repr(a) for a in args), value)
        return value
    if origin is tuple:
        return _coerce_tuple(value, args, bounds, where)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            _fail(where, "a table of name = value", value)
        return dict(value)
    if annotation is bool:
        if not isinstance(value, bool | np.bool_):
            _fail(where, "true or false", value)
        return bool(value)
    if annotation is int:
        return _coerce_int(value, bounds, where)
    if annotation is float:
        return _coerce_float(value, bounds, where)
    if annotation is str:
        if not isinstance(value, str) or len(value) > MAX_STRING_CHARS:
            _fail(where, f"a string of at most {MAX_STRING_CHARS} characters", value)
        if bounds.choices is not None and value not in bounds.choices:
            _fail(where, "one of " + ", ".join(repr(c) for c in bounds.choices), value)
        return value
    if annotation is Path:
        if not isinstance(value, str | Path) or len(str(value)) > MAX_STRING_CHARS:
            _fail(where, "a path", value)
        return Path(value)
    if annotation is Any:
        return value
    if isinstance(annotation, type):
        if not isinstance(value, annotation):
            _fail(where, f"a {annotation.__name__}", value)
        return value
    raise TypeError(f"{where}: the validation layer does not know the annotation {annotation!r}")


def _describe(annotation: Any, bounds: Bounds) -> str:
    if annotation is int:
        return f"an integer {bounds.describe()}".rstrip()
    if annotation is float:
        return f"a finite number {bounds.describe()}".rstrip()
    if typing.get_origin(annotation) is tuple:
        return f"a list of at most {bounds.max_items} values"
    return getattr(annotation, "__name__", repr(annotation))


def _coerce_int(value: Any, bounds: Bounds, where: str) -> int:
    allowed = _describe(int, bounds)
    if isinstance(value, bool | np.bool_):
        _fail(where, allowed, value)
    if isinstance(value, numbers.Integral):
        result = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        result = int(value)
    else:
        _fail(where, allowed, value)
    if not bounds.admits(result):
        _fail(where, allowed, value)
    return result


def _coerce_float(value: Any, bounds: Bounds, where: str) -> float:
    allowed = _describe(float, bounds)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        _fail(where, allowed, value)
    result = float(value)
    if not math.isfinite(result) or not bounds.admits(result):
        _fail(where, allowed, value)
    return result


def _coerce_tuple(value: Any, args: tuple, bounds: Bounds, where: str) -> tuple:
    if not _is_sequence(value):
        _fail(where, f"a list of at most {bounds.max_items} values", value)
    items = list(value)
    if len(items) > bounds.max_items:
        _fail(where, f"a list of at most {bounds.max_items} values", f"<{len(items)} values>")
    if len(args) == 2 and args[1] is Ellipsis:
        kinds = [args[0]] * len(items)
    else:
        if len(items) != len(args):
            _fail(where, f"a list of {len(args)} values", value)
        kinds = list(args)
    return tuple(
        coerce(item, kind, bounds, f"{where}[{i}]")
        for i, (item, kind) in enumerate(zip(items, kinds, strict=True))
    )


def check_int_arg(value: Any, name: str, low: int = 1, high: int | None = None) -> int:
    """An integer argument of a function (``n`` of ``sample``, ``instances``, ...), or
    :class:`InvalidConfigError`. Integral floats are refused here: a count is an integer."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        bound = f" in [{low}, {_num(high)}]" if high is not None else f" >= {low}"
        _fail(name, f"an integer{bound}", value)
    return _coerce_int(value, Bounds(low=low, high=high), name)


def check_allocation(what: str, elements: float, itemsize: int = 8) -> None:
    """Refuse an array of ``elements`` items of ``itemsize`` bytes above :data:`MAX_ARRAY_BYTES`.

    ``what`` says what would be allocated and from which settings, e.g.
    ``"gdm training set (num_labels x observation_dim)"``.
    """
    needed = float(elements) * itemsize
    if needed > MAX_ARRAY_BYTES:
        raise InvalidConfigError(
            f"{what} would take {needed / 2**30:.1f} GiB, more than the "
            f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB gainnet allows one array: use smaller settings"
        )
