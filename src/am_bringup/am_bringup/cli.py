"""`am`: the project's command line. `am run CONFIG` starts a configuration from config/ in one process."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from am_bringup.configs import ConfigFileError, available_configs, find_config


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["sim_cell.seed=3", ...]`` -> ``{"sim_cell": {"seed": 3}}`` (values parsed as YAML scalars)."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not node or not param:
            raise ConfigFileError(f"--set {item!r}: expected NODE.PARAM=VALUE, e.g. sim_cell.seed=3")
        overrides.setdefault(node, {})[param] = yaml.safe_load(value)
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    from am_bringup.embedded import run  # imports rclpy: keep `am --help` fast

    config = find_config(args.config)
    overrides = parse_overrides(args.set)
    print(f"[am] starting {config} in one process (rclpy, real DDS)", flush=True)
    result = run(config, overrides, timeout=args.timeout)
    print(f"[am] {result.reason} after {result.seconds:.1f} s", flush=True)
    if result.reason == "timeout" and result.waited_for:
        print(f"[am] error: {config.stem} did not finish within --timeout {args.timeout} s", file=sys.stderr)
        return 3
    return 130 if result.reason == "interrupted" else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``am`` command."""
    parser = argparse.ArgumentParser(prog="am", description="Actionable Models for ROS 2")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start a configuration from config/ (nodes + parameters) in one process")
    run_p.add_argument("config", help="configuration name (see `am configs`) or path to a parameter YAML file")
    run_p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                       help="override one parameter of one node (repeatable)")
    run_p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    run_p.set_defaults(func=_cmd_run)
    cfg_p = sub.add_parser("configs", help="list the configurations `am run` knows")
    cfg_p.set_defaults(func=lambda _args: print("\n".join(available_configs())) or 0)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigFileError as exc:
        print(f"am: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as exc:  # bad parameter values, unknown layout/task names
        print(f"am: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
