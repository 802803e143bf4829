"""Names of a package imported on first use (PEP 562), so that importing one light part of it
(a config, a schema) does not import its heavy parts (torch, stable-baselines3, arch) too: an
API process that never trains starts in a fraction of the time, and an image without the ``rl``
extra can still import the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``where`` is taken from its
    module on first use and then kept as a plain attribute of the package.

    Args:
        package: the package's ``__name__``.
        where: public name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
