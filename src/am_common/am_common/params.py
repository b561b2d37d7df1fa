"""ROS parameters <-> core config dataclasses: one schema and one set of defaults for YAML, launch and tests."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

T = TypeVar("T")


def _default(field: dataclasses.Field) -> Any:
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def declare_config(node: Node, config_cls: type[T]) -> None:
    """Declare one parameter per field of ``config_cls``, defaulting to the field's default.

    Types are checked when the config is built (``read_config``), so YAML may say ``10`` for ``10.0``.
    """
    for field in dataclasses.fields(config_cls):
        default = _default(field)
        if isinstance(default, tuple):
            default = [float(v) for v in default]
        node.declare_parameter(field.name, default, ParameterDescriptor(
            description=f"{config_cls.__name__}.{field.name}", dynamic_typing=True))


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, float):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if isinstance(default, tuple):
            return tuple(float(v) for v in value)
        if isinstance(default, int) and not isinstance(value, int):
            raise TypeError
        if isinstance(default, str) and not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} must be of type {type(default).__name__} "
                         f"like {default!r}, got {value!r}") from None


def read_config(node: Node, config_cls: type[T]) -> T:
    """Build ``config_cls`` from the node's parameters; the dataclass validates and names bad values."""
    values = {field.name: _coerce(field.name, node.get_parameter(field.name).value, _default(field))
              for field in dataclasses.fields(config_cls)}
    return config_cls(**values)
