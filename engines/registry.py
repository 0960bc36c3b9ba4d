"""Engines registered by name. The CLI's ``--engine`` picks one.

Engine modules are imported only when their engine is asked for, so the heavy
dependencies of one engine never slow down or break another.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from vivicam.engines.base import Engine
from vivicam.errors import InputError

# name -> "module:factory"; the factory takes keyword options and returns an Engine.
_BUILTIN: dict[str, str] = {
    "warp": "vivicam.engines.warp.engine:WarpEngine",
    "liveportrait": "vivicam.engines.liveportrait.engine:LivePortraitEngine",
}
_registered: dict[str, Callable[..., Engine]] = {}


def register_engine(name: str, factory: Callable[..., Engine]) -> None:
    """Make ``factory`` available as ``--engine name``."""
    _registered[name] = factory


def engine_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_registered))


def create_engine(name: str, **options: Any) -> Engine:
    """Build the engine ``name`` with its keyword ``options``."""
    if name in _registered:
        return _registered[name](**options)
    target = _BUILTIN.get(name)
    if target is None:
        raise InputError(f"unknown engine '{name}'; choose one of: {', '.join(engine_names())}")
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    _check_options(name, factory, options)
    return factory(**options)


def _check_options(name: str, factory: Any, options: dict[str, Any]) -> None:
    """InputError for an option this engine does not have (``--mouth`` on
    liveportrait), instead of a TypeError from deep inside."""
    import inspect

    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise InputError(f"the {name} engine has no option {', '.join('--' + u.replace('_', '-') for u in unknown)}")
