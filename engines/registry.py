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
    return factory(**options)
