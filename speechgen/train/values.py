"""Type and range checks of config values, from the annotations (or defaults) of what they configure.

One rule for every field of a config: ``trainer`` keys (TrainerConfig's annotations), ``model_conf``
(the model class's ``__init__`` annotations) and ``optim_conf``/``scheduler_conf`` (the torch class's
defaults). A value is checked against its type (``int``, ``float``, ``bool``, ``str``, ``Optional``,
sequences, mappings, unions) and, for integers, a range: an integer whose default is at least 1 (or
that has no default: a size) must be at least 1, any other at least 0. A wrong value is a
:class:`ConfigError` naming the key, what was given and what is expected.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import math
import types
import typing
from typing import Any, Dict, Mapping

from speechgen.errors import ConfigError

_EMPTY = inspect.Parameter.empty
UNIONS = (typing.Union, types.UnionType)  # Optional[int] and int | None
Count = typing.Annotated[int, "count"]
"""An integer parameter where 0 means none (e.g. figures per epoch): >= 0 even with a default >= 1."""


def check_mapping(value: Any, where: str) -> Dict[str, Any]:
    """``value`` as a dict (None is empty); anything else is an error naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {value!r}")
    return dict(value)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in UNIONS:
        shown = [_describe(a) for a in args if a is not type(None)]
        return " or ".join([d for d in shown if d] + (["null"] if type(None) in args else []))
    if origin in (list, tuple, collections.abc.Sequence):
        return f"a list ({_describe(args[0]) if args else 'any value'} each)"
    if origin in (dict, collections.abc.Mapping):
        return f"a mapping ({_describe(args[1]) if len(args) > 1 else 'any value'} each)"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    # a type a config cannot give (e.g. a tensor) is not offered
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, "")


def _convert(value: Any, hint: Any) -> Any:
    """``value`` converted to ``hint`` (an int to a float, a list to a tuple); TypeError if it is not one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is _EMPTY:
        return value
    if origin is typing.Literal:
        if value in args:
            return value
        raise TypeError
    if origin in UNIONS:
        for arg in args:
            try:
                return _convert(value, arg)
            except TypeError:
                continue
        raise TypeError
    if hint is type(None):
        if value is None:
            return None
        raise TypeError
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return type(value)(_convert(v, args[0] if args else Any) for v in value)
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise TypeError
        return {k: _convert(v, args[1] if len(args) > 1 else Any) for k, v in value.items()}
    if hint is bool or isinstance(value, bool):
        if hint is bool and isinstance(value, bool):
            return value
        raise TypeError
    if hint is int and isinstance(value, int):
        return value
    if hint is int and isinstance(value, float) and value.is_integer():  # 1e3 written for 1000
        return int(value)
    if hint is float and isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise TypeError
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if not isinstance(hint, type):  # a hint this checker does not know: leave the value to its user
        return value
    raise TypeError


def _minimum(default: Any) -> float:
    """The least integer a parameter with this default takes: 1 for sizes (no default or one >= 1), 0 for a
    default of 0; none for a negative default (e.g. torch's ``last_epoch=-1``)."""
    if default is _EMPTY or isinstance(default, bool) or not isinstance(default, int):
        return 1 if default is _EMPTY else 0
    return 1 if default >= 1 else 0 if default == 0 else -math.inf


def _check_range(value: Any, low: float, key: str, where: str) -> None:
    ints = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple)) else []
    ints = [v for v in ints if isinstance(v, int) and not isinstance(v, bool)]
    for v in ints:
        if v < low and low > -math.inf:
            raise ConfigError(f"{where}.{key}={value!r}: expected {'a positive integer' if low else 'an integer >= 0'}"
                              f"{' (each item)' if isinstance(value, (list, tuple)) else ''}")


def check_value(value: Any, hint: Any, default: Any, key: str, where: str) -> Any:
    """``value`` of ``where.key`` checked against ``hint`` and the range rule; converted (int -> float)."""
    if typing.get_origin(hint) is typing.Annotated:  # Count: an integer >= 0 whatever its default
        hint, low = typing.get_args(hint)[0], 0
    else:
        defaults = default if isinstance(default, (list, tuple)) else [default]
        low = _minimum(defaults[0] if defaults else _EMPTY)
    try:
        value = _convert(value, hint)
    except TypeError:
        raise ConfigError(f"{where}.{key}={value!r}: expected {_describe(hint)}") from None
    _check_range(value, low, key, where)
    return value


def parameter_types(fn: Any) -> Dict[str, tuple]:
    """{parameter: (type hint, default)} of a class's ``__init__`` (or a dataclass's fields, or a function);
    a parameter without an annotation takes any value."""
    if dataclasses.is_dataclass(fn):
        hints = typing.get_type_hints(fn, include_extras=True)
        return {f.name: (hints[f.name], f.default if f.default is not dataclasses.MISSING else _EMPTY)
                for f in dataclasses.fields(fn)}
    init = fn.__init__ if inspect.isclass(fn) else fn
    try:
        hints = typing.get_type_hints(init, include_extras=True)
    except (NameError, TypeError):
        hints = {}
    params = inspect.signature(fn).parameters
    return {name: (hints.get(name, Any), p.default) for name, p in params.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name != "self"}


def check_values(conf: Mapping[str, Any], fn: Any, where: str) -> Dict[str, Any]:
    """Every value of ``conf`` (keys already checked) against the parameter of ``fn`` it sets."""
    types = parameter_types(fn)
    return {key: check_value(value, *types[key], key, where) if key in types else value
            for key, value in conf.items()}
