"""Name -> class registries with a base-class check, so configs pick classes by name.

This module imports nothing of speechgen but its errors, so that any module (the models, the
config code) can import it without an import cycle. The registry of the models, ``MODELS``, is
made in :mod:`speechgen.models.base` beside the base class it checks.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Mapping, Optional, Type

from speechgen.errors import ConfigError


class Registry:
    """Maps names to subclasses of ``base``; builds them from a config mapping of keyword args."""

    def __init__(self, kind: str, base: type):
        self.kind = kind
        self.base = base
        self._classes: Dict[str, Type] = {}

    def register(self, name: str) -> Callable[[Type], Type]:
        def add(cls: Type) -> Type:
            if not (inspect.isclass(cls) and issubclass(cls, self.base)):
                raise TypeError(f"{cls!r} registered as {self.kind} '{name}' is not a {self.base.__name__}")
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._classes[name] = cls
            return cls

        return add

    def names(self):
        return sorted(self._classes)

    def name_of(self, cls: Type) -> Optional[str]:
        """The name ``cls`` is registered under; None for a class that is not registered."""
        return next((name for name, known in self._classes.items() if known is cls), None)

    def get(self, name: str) -> Type:
        if name not in self._classes:
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names())}")
        return self._classes[name]

    def build(self, name: str, conf: Mapping[str, Any] | None, where: str = "") -> Any:
        """Instantiate ``name`` with ``conf`` as keyword args; unknown keys are an error."""
        cls = self.get(name)
        conf = dict(conf or {})
        where = where or f"{self.kind}_conf"
        check_kwargs(cls, conf, where)
        try:
            return cls(**conf)
        except ConfigError:
            raise
        except (ValueError, TypeError, RuntimeError) as err:  # e.g. sizes that do not fit together
            raise ConfigError(f"{where}: {self.kind} '{name}' cannot be built from {conf}: {err}") from None


def check_kwargs(fn: Callable, conf: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError for keys of ``conf`` that ``fn`` does not accept."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = {n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL}
    unknown = sorted(set(conf) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where}; "
            f"{getattr(fn, '__name__', fn)} accepts: {', '.join(sorted(allowed))}"
        )

