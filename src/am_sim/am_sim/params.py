"""ROS parameters <-> core config dataclasses: one schema and one set of defaults for YAML, launch and tests."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

T = TypeVar("T")


def declare_config(node: Node, config_cls: type[T], prefix: str = "") -> None:
    """Declare one parameter per field of ``config_cls`` with the field's default and docstring-less type."""
    for field in dataclasses.fields(config_cls):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if isinstance(default, tuple):
            default = [float(v) for v in default]
        node.declare_parameter(prefix + field.name, default,
                               ParameterDescriptor(description=f"{config_cls.__name__}.{field.name}"))


def read_config(node: Node, config_cls: type[T], prefix: str = "", **extra: Any) -> T:
    """Build ``config_cls`` from the node's parameters; the dataclass validates and names bad values."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_cls):
        value = node.get_parameter(prefix + field.name).value
        default = field.default if field.default is not dataclasses.MISSING else None
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        values[field.name] = value
    values.update(extra)
    return config_cls(**values)
