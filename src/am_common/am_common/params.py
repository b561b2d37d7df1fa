"""One parameter contract for every node: declare, read, type-check and refuse unknown names.

Every node declares its parameters through :func:`declare_parameters` (plain name -> default) and
:func:`declare_config` / :func:`read_config` (one parameter per field of a core config dataclass), then
calls :func:`refuse_unknown_parameters`. The rules, the same on every node and under ``am`` or
``ros2 run`` / ``ros2 launch``:

- a parameter the node does not know (a misspelling, in a YAML file or an override) is refused, with the
  node's known names listed;
- an integer is accepted where a float belongs (YAML ``0`` for ``0.0``); a float is not accepted where an
  integer belongs, nor a number where text or a boolean belongs;
- a wrong type or value raises :class:`ParameterError` naming the parameter, the value and the rule.

Under ``am`` that error is exit 2 and one message; :func:`run_node` gives ``ros2 run`` the same: the
node logs the error and the process exits with status 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import rclpy
import rclpy.logging
from rclpy.executors import ExternalShutdownException
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from actionable_models.errors import ActionableModelsError
from am_common.param_rules import ParameterError, coerce, config_from_values, default_of

T = TypeVar("T")
__all__ = ["ParameterError", "check_choice", "coerce", "declare_config", "declare_parameters", "read_config",
           "refuse_unknown_parameters", "run_node"]

# Parameters every ROS 2 node may be given that are not ours to refuse.
STANDARD_PARAMETERS = ("use_sim_time", "start_type_description_service")
STANDARD_PREFIXES = ("qos_overrides.",)


def _declarable(default: Any) -> Any:
    if isinstance(default, tuple):
        return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in default]
    return default


def declare_parameters(node: Node, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Declare each name with its default (any type may be given: the check is ours) and return the
    values, each coerced to its default's type (:func:`coerce`)."""
    values = {}
    for name, default in defaults.items():
        node.declare_parameter(name, _declarable(default), ParameterDescriptor(dynamic_typing=True))
        values[name] = coerce(name, node.get_parameter(name).value, default)
    return values


def declare_config(node: Node, config_cls: type) -> None:
    """Declare one parameter per field of ``config_cls``, defaulting to the field's default."""
    for field in dataclasses.fields(config_cls):
        node.declare_parameter(field.name, _declarable(default_of(field)), ParameterDescriptor(
            description=f"{config_cls.__name__}.{field.name}", dynamic_typing=True))


def read_config(node: Node, config_cls: type[T]) -> T:
    """Build ``config_cls`` from the node's parameters (:func:`config_from_values`)."""
    return config_from_values(config_cls, {field.name: node.get_parameter(field.name).value
                                           for field in dataclasses.fields(config_cls)})


def refuse_unknown_parameters(node: Node) -> None:
    """ParameterError when the node was given parameters (YAML or overrides) it has not declared."""
    given = set(getattr(node, "_parameter_overrides", {}))  # rclpy: this node's params-file and override values
    known = set(node._parameters)
    unknown = sorted(name for name in given - known
                     if name not in STANDARD_PARAMETERS and not name.startswith(STANDARD_PREFIXES))
    if unknown:
        names = ", ".join(sorted(n for n in known if n not in STANDARD_PARAMETERS))
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for node "
                             f"{node.get_name()}; it knows: {names}")


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    """``value`` when it is one of ``choices``, else ParameterError naming the parameter and the choices."""
    if value not in choices:
        raise ParameterError(f"parameter {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node], None] | None = None) -> int:
    """The body of a node's ``ros2 run`` entry point: init, build, spin (``spin(node)``, default
    rclpy.spin), shut down. Bad parameters or files are logged as one error line and give exit 2."""
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except (ValueError, KeyError, ActionableModelsError) as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # no repr quotes
            rclpy.logging.get_logger(name).error(message)
            return 2
        (spin or rclpy.spin)(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
