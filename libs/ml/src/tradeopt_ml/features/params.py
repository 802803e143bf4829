"""Typed, bounded indicator parameters and their validation."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

ParamValue = int | float | bool

_TYPE_NAMES: dict[type, str] = {int: "int", float: "float", bool: "bool"}


@dataclass(frozen=True)
class Param:
    """One parameter of an indicator.

    Args:
        name: Parameter name as used in a spec's ``params``.
        type: ``int``, ``float`` or ``bool``.
        default: Value used when the spec omits the parameter.
        description: One line for the catalog.
        min: Inclusive lower bound (numbers only).
        max: Inclusive upper bound (numbers only).
    """

    name: str
    type: type
    default: ParamValue
    description: str
    min: float | None = None
    max: float | None = None

    def coerce(self, value: Any) -> ParamValue:
        """Return ``value`` as this parameter's type, or raise ``ValueError`` saying why not.

        ``int`` accepts integers and integral floats (``14.0``), never booleans; ``float``
        accepts any finite real number (not booleans); ``bool`` accepts booleans only.
        """
        kind = _TYPE_NAMES[self.type]
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.name}: expected a boolean, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{self.name}: expected {kind}, got {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{self.name}: must be finite, got {value!r}")
        if self.type is int:
            as_float = float(value)
            if as_float != int(as_float):  # 14.0 is fine, 14.5 is not
                raise ValueError(f"{self.name}: expected an integer, got {value!r}")
            coerced: ParamValue = int(as_float)
        else:
            coerced = float(value)
        if self.min is not None and coerced < self.min:
            raise ValueError(f"{self.name}: must be >= {self.min:g}, got {value!r}")
        if self.max is not None and coerced > self.max:
            raise ValueError(f"{self.name}: must be <= {self.max:g}, got {value!r}")
        return coerced

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description for the catalog."""
        return {
            "name": self.name,
            "type": _TYPE_NAMES[self.type],
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "description": self.description,
        }


def fmt(value: ParamValue) -> str:
    """Render a parameter value inside a column name (``2.0 -> "2"``, ``2.5 -> "2.5"``)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
