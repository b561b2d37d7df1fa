"""The embedded runner: the node set of a config/ YAML file in one process, on real rclpy and DDS.

One single-threaded executor runs every callback in this thread. Our callbacks are CPU-bound Python,
so under the GIL more threads buy nothing; a single thread halves lock-step latency (measured: 8 ms
against 15 ms per step at 64 px) and no callback is still running when the nodes are torn down.

Each top-level entry of the YAML names a node; the registry below maps that name to its node class.
The YAML is handed to rcl as a ``--params-file``, exactly as ``ros2 launch`` does, so a node reads the
same parameters either way. The run ends on Ctrl-C, or when every node that has a ``finished`` future
(a demo, a collector, a trainer) has completed.

A run may be ``private``: its nodes then talk only among themselves (one DDS participant, no discovery),
so that two runs on one machine, on the same ROS domain, cannot read each other's lock-step commands
and camera frames. ``am main`` runs its stages so.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from actionable_models.errors import ActionableModelsError
from am_bringup.configs import ConfigFileError, read_node_params

# node name in config YAML -> "module:Class"
NODE_CLASSES = {
    "sim_cell": "am_sim.sim_node:SimCellNode",
    "pick_place_demo": "am_sim.pick_place_demo:PickPlaceDemoNode",
    "play_collector": "am_sim.play_collector:PlayCollectorNode",
    "recorder": "am_dataset_recorder.recorder_node:RecorderNode",
    "trainer": "am_trainer.trainer_node:TrainerNode",
    "policy": "am_policy_node.policy_node:PolicyNode",
    "goal_evaluator": "am_sim.goal_evaluator:GoalEvaluatorNode",
    "real_arm_adapter": "am_real_arm.adapter_node:RealArmAdapterNode",
}


@dataclass
class RunResult:
    """What an embedded run ended with."""

    reason: str  # "finished", "interrupted" or "timeout"
    waited_for: list[str] = field(default_factory=list)  # nodes with a ``finished`` future
    results: dict[str, Any] = field(default_factory=dict)  # node name -> its finished future's result
    errors: dict[str, str] = field(default_factory=dict)  # node name -> why its finished future failed
    seconds: float = 0.0


def node_class(name: str) -> type[Node]:
    """The node class registered under ``name``."""
    try:
        module, cls = NODE_CLASSES[name].split(":")
    except KeyError:
        raise ConfigFileError(f"no node class is registered for node {name!r}; known nodes: "
                              f"{', '.join(NODE_CLASSES)}") from None
    return getattr(importlib.import_module(module), cls)


def _parameter(node: str, name: str, value: Any) -> Parameter:
    try:
        return Parameter(name, value=value)
    except (TypeError, ValueError, AttributeError):  # e.g. a YAML mapping or a mixed list
        raise ConfigFileError(f"--set {node}.{name}: {value!r} is not a ROS 2 parameter value (a number, "
                              "string, boolean or a list of one of them)") from None


def start_nodes(config: Path, context: Context, overrides: dict[str, dict[str, Any]] | None = None) -> list[Node]:
    """Instantiate every node that ``config`` names, in ``context`` (initialised with its params file)."""
    overrides = overrides or {}
    names = list(read_node_params(config))
    unknown = set(overrides) - set(names)
    if unknown:
        raise ConfigFileError(f"--set names nodes {sorted(unknown)} that {config} does not start: {names}")
    nodes: list[Node] = []
    try:
        for name in names:
            params = [_parameter(name, k, v) for k, v in overrides.get(name, {}).items()]
            cls = node_class(name)
            try:
                nodes.append(cls(node_name=name, context=context, parameter_overrides=params))
            except (ValueError, KeyError, TypeError, ActionableModelsError) as exc:  # bad parameters, names, files
                raise ConfigFileError(f"node {name} ({config}): {exc}") from exc
    except Exception:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


DISCOVERY_RANGE_VARIABLE = "ROS_AUTOMATIC_DISCOVERY_RANGE"


@contextlib.contextmanager
def discovery_range(value: str | None) -> Iterator[None]:
    """``ROS_AUTOMATIC_DISCOVERY_RANGE`` set to ``value`` while a context is initialised (rcl reads it
    there), restored after; ``None`` leaves the environment as it is. ``"OFF"`` keeps a context's nodes
    to themselves: they share one DDS participant, which needs no discovery to match its own endpoints."""
    if value is None:
        yield
        return
    before = os.environ.get(DISCOVERY_RANGE_VARIABLE)
    os.environ[DISCOVERY_RANGE_VARIABLE] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[DISCOVERY_RANGE_VARIABLE]
        else:
            os.environ[DISCOVERY_RANGE_VARIABLE] = before


def run(config: Path, overrides: dict[str, dict[str, Any]] | None = None, timeout: float | None = None,
        private: bool = False) -> RunResult:
    """Start the configuration, spin until its finishing nodes are done, Ctrl-C or ``timeout`` seconds.
    ``private``: no DDS discovery, so the nodes hear only each other (see the module docstring)."""
    start = time.monotonic()
    read_node_params(config)  # a file that is not ROS 2 parameter YAML: named here, not by rcl's parser
    context = Context()
    # Our own SIGINT/SIGTERM handling: the loop below notices within 0.1 s and tears the nodes down in
    # order (a recorder closes its bag), instead of rclpy shutting the context under their feet.
    try:
        with discovery_range("OFF" if private else None):
            rclpy.init(args=["--ros-args", "--params-file", str(config)], context=context,
                       signal_handler_options=SignalHandlerOptions.NO)
    except RuntimeError as exc:  # rclpy's RCLError: rcl could not parse the parameter file
        raise ConfigFileError(f"{config}: rcl could not read it as a parameter file: {exc}") from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        nodes = start_nodes(config, context, overrides)
        executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            executor.add_node(node)
        finishing = {node.get_name(): node.finished for node in nodes if hasattr(node, "finished")}
        reason = "interrupted"
        try:
            while not stop.is_set():
                if finishing and all(f.done() for f in finishing.values()):
                    reason = "finished"
                    break
                if timeout is not None and time.monotonic() - start > timeout:
                    reason = "timeout"
                    break
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            reason = "interrupted"
        finally:
            results = {name: f.result() for name, f in finishing.items() if f.done() and f.exception() is None}
            errors = {name: str(f.exception()) for name, f in finishing.items() if f.done() and f.exception()}
            executor.shutdown(timeout_sec=1.0)
            for node in nodes:
                node.destroy_node()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if context.ok():
            rclpy.shutdown(context=context)
    return RunResult(reason, list(finishing), results, errors, time.monotonic() - start)
