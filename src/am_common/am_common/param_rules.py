"""The type and value rules of node parameters, without ROS: also used where ``am`` reads a config YAML
itself (``am train``). :mod:`am_common.params` applies them to nodes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from actionable_models.errors import ActionableModelsError

T = TypeVar("T")


def default_of(field: dataclasses.Field) -> Any:
    """The default value of a dataclass field."""
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


class ParameterError(ValueError):
    """A node parameter that is unknown, of the wrong type or out of range; the message names it."""


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "a boolean (true or false)"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, (list, tuple)):
        inner = _type_name(default[0]) if default else "values"
        return f"a list of {inner.split(' ', 1)[-1]}s" if default else "a list"
    return type(default).__name__


def coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``, or ParameterError naming the parameter, the value and the rule."""
    def bad() -> ParameterError:
        return ParameterError(f"parameter {name} must be {_type_name(default)} (like {default!r}), got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad()
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return int(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad()
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise bad()
        items = list(value)
        if default:
            try:
                items = [coerce(name, item, default[0]) for item in items]
            except ParameterError:
                raise bad() from None
        return tuple(items) if isinstance(default, tuple) else items
    return value


def config_from_values(config_cls: type[T], values: Mapping[str, Any]) -> T:
    """``config_cls`` from parameter values (missing fields keep their defaults): types by :func:`coerce`,
    values by the dataclass, whose error (naming the field) becomes a ParameterError."""
    known = {field.name: field for field in dataclasses.fields(config_cls)}
    typed = {name: coerce(name, value, default_of(known[name])) for name, value in values.items() if name in known}
    try:
        return config_cls(**typed)
    except (ValueError, TypeError, ActionableModelsError) as exc:
        message = str(exc)
        raise ParameterError(message if message.startswith("parameter") else f"parameter {message}") from None
