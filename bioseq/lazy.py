"""Packages whose names are imported on first use, so that importing the package stays light.

>>> namespace = {}
>>> getattr_, dir_ = lazy_exports("bioseq.io", {"DNA": "alphabet"}, namespace)
>>> from bioseq.io.alphabet import DNA
>>> getattr_("DNA") is DNA, "DNA" in namespace, dir_()
(True, True, ['DNA'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for ``exports`` (name -> the module that
    defines it: a module of ``package``, or a full ``bioseq.`` path). A name is imported on
    first use and stored in ``namespace`` (the package's ``globals()``), so later look-ups skip
    ``__getattr__``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = module if module.startswith("bioseq.") else f"{package}.{module}"
        value = getattr(importlib.import_module(where), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
