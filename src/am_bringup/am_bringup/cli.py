"""`am`: the project's command line. `am run CONFIG` starts a configuration from config/ in one process."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from actionable_models.errors import ActionableModelsError
from actionable_models.sim.camera_view import add_camera_view_arguments, camera_view_fields
from am_bringup.configs import ConfigFileError, available_configs, find_config, use_dds_profile


def parse_overrides(items: list[str], base: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``["sim_cell.seed=3", ...]`` -> ``{"sim_cell": {"seed": 3}}`` (values parsed as YAML scalars), over ``base``."""
    overrides: dict[str, dict[str, Any]] = {node: dict(params) for node, params in (base or {}).items()}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not node or not param:
            raise ConfigFileError(f"--set {item!r}: expected NODE.PARAM=VALUE, e.g. sim_cell.seed=3")
        try:
            overrides.setdefault(node, {})[param] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigFileError(f"--set {item!r}: the value {value!r} is not a YAML scalar or list "
                                  f"({str(exc).splitlines()[0]})") from None
    return overrides


def version_text() -> str:
    """``am --version``: this package's version, and the versions of what it runs on."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"am (Actionable Models for ROS 2) {of('am_bringup')}; torch {of('torch')}, mujoco {of('mujoco')}, "
            f"rclpy {of('ros-jazzy-rclpy')} (ROS 2 Jazzy), python {sys.version.split()[0]}")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the option and exits 2 otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    from am_bringup.embedded import run  # imports rclpy: keep `am --help` fast

    config = find_config(args.config)
    overrides = parse_overrides(args.set)
    print(f"[am] starting {config} in one process (rclpy, real DDS)", flush=True)
    result = run(config, overrides, timeout=args.timeout)
    print(f"[am] {result.reason} after {result.seconds:.1f} s", flush=True)
    for name, error in result.errors.items():
        print(f"[am] error: {name} failed: {error}", file=sys.stderr)
    if result.errors:
        return 1
    if result.reason == "timeout" and result.waited_for:
        print(f"[am] error: {config.stem} did not finish within --timeout {args.timeout} s", file=sys.stderr)
        return 3
    return 130 if result.reason == "interrupted" else 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from am_bringup.embedded import run

    config = find_config(args.config)
    overrides = {"play_collector": {"episodes": args.episodes, "base_seed": args.seed, "layout": args.layout,
                                    "episode_steps": args.steps},
                 "recorder": {"output_dir": str(args.out)}}
    overrides = parse_overrides(args.set, overrides)
    print(f"[am] collecting {args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1}, "
          f"{args.steps} steps each) into {args.out}", flush=True)
    result = run(config, overrides, timeout=args.timeout)
    for name, error in result.errors.items():
        print(f"[am] error: {name} failed: {error}", file=sys.stderr)
    summary = result.results.get("play_collector")
    if summary is None:
        what = "failed" if result.errors else result.reason
        print(f"[am] collection {what} after {result.seconds:.1f} s; episodes closed so far are complete",
              file=sys.stderr)
        return 1 if result.errors else 130 if result.reason == "interrupted" else 3
    print(f"[am] collected {summary['episodes']} episodes, {summary['steps']} steps in {summary['seconds']} s "
          f"into {args.out}")
    for primitive, count in sorted(summary["primitives"].items()):
        judged = summary["judged"].get(primitive, 0)
        outcome = f"{summary['successes'].get(primitive, 0):4d} of {judged} judged succeeded" if judged else \
            "not judged"
        print(f"[am]   {primitive:<14} {count:4d} attempts, {outcome}")
    return 0


def _print_bar(label: str, done: int, total: int, text: str) -> None:
    """One progress line on stderr, redrawn in place; a newline once done reaches total."""
    filled = 30 * done // max(total, 1)
    print(f"\r[{label}] [{'#' * filled}{'-' * (30 - filled)}] {done}/{total} {text}",
          end="\n" if done >= total else "", file=sys.stderr, flush=True)


def _progress_bar(label: str):
    return lambda done, total: _print_bar(label, done, total, "episodes")


def _train_progress(step: int, total: int, metrics: dict) -> None:
    _print_bar("train", step, total, f"loss {metrics['loss/total']:.4f} q {metrics['q/mean_data']:.3f} "
                                     f"{metrics['perf/samples_per_s']:.0f} samples/s")


def _cmd_dataset(args: argparse.Namespace) -> int:
    import time

    from actionable_models.data.dataset import DatasetConfig, DatasetError, load_dataset
    from actionable_models.data.inspect_bags import dataset_check, dataset_info, format_info, format_problems

    try:
        if args.action == "info":
            print(format_info(dataset_info(args.folder)))
            return 0
        if args.action == "export":
            from actionable_models.data.lerobot import export_lerobot

            if not args.out:
                raise ConfigFileError("am dataset export FOLDER OUT: give the folder to write the LeRobot dataset to")
            start = time.monotonic()
            info = export_lerobot(args.folder, args.out, codec=args.codec, progress=_progress_bar("export"))
            size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file()) / 1e6
            print(f"[am] wrote LeRobotDataset {info['codebase_version']} to {args.out}: {info['total_episodes']} "
                  f"episodes, {info['total_frames']} frames at {info['fps']:g} fps, {size:.1f} MB "
                  f"({args.codec} video) in {time.monotonic() - start:.1f} s")
            return 0
        if args.action == "check":
            problems = dataset_check(args.folder)
            print(format_problems(problems))
            return int(any(p.severity == "error" for p in problems))
        config = DatasetConfig(image_size=args.image_size, skip_bad=args.skip_bad,
                               cache_dir=args.cache_dir)
        start = time.monotonic()
        dataset = load_dataset(args.folder, config, progress=_progress_bar("dataset"))
        seconds = time.monotonic() - start
    except DatasetError as exc:
        print(f"am: error: {exc}", file=sys.stderr)
        return 1
    for path, problem in dataset.skipped:
        print(f"[am] skipped {path}: {problem}", file=sys.stderr)
    print(f"[am] {len(dataset)} steps from {dataset.num_episodes} episodes at {dataset.image_size} px in "
          f"{seconds:.2f} s ({len(dataset) / max(seconds, 1e-9):.0f} frames/s); cache: {dataset.cache_path}")
    return 0


def trainer_settings(config_path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``trainer`` node's parameters from a config YAML, with overrides: dataset, run_dir, learner, schedule."""
    from dataclasses import fields

    from actionable_models.learning.config import LearnerConfig
    from actionable_models.learning.trainer import TrainConfig

    from am_bringup.configs import read_node_params
    from am_common.param_rules import coerce, config_from_values

    nodes = read_node_params(config_path)
    if "trainer" not in nodes:
        raise ConfigFileError(f"{config_path} has no 'trainer' entry")
    params = {**nodes["trainer"], **overrides}
    params.pop("use_sim_time", None)
    learner_keys = {f.name for f in fields(LearnerConfig)}
    schedule_keys = {f.name for f in fields(TrainConfig)}
    known = learner_keys | schedule_keys | {"dataset", "run_dir"}
    unknown = set(params) - known
    if unknown:
        raise ConfigFileError(f"{config_path}: unknown trainer parameter{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(sorted(unknown))}; the trainer knows: {', '.join(sorted(known))}")
    paths = {key: coerce(key, params.get(key, default), default)
             for key, default in (("dataset", "data/play"), ("run_dir", "runs/am"))}
    return {**paths,
            "learner": config_from_values(LearnerConfig, {k: v for k, v in params.items() if k in learner_keys}),
            "schedule": config_from_values(TrainConfig, {k: v for k, v in params.items() if k in schedule_keys})}


def _cmd_train(args: argparse.Namespace) -> int:
    import os
    import time

    from actionable_models.data.dataset import DatasetError
    from actionable_models.learning.checkpoint import CheckpointError
    from actionable_models.learning.trainer import train

    overrides = parse_overrides(args.set).get("trainer", {})
    for key, value in (("dataset", args.dataset), ("run_dir", args.out), ("steps", args.steps)):
        if value is not None:
            overrides[key] = value
    settings = trainer_settings(find_config(args.config), overrides)
    rank = int(os.environ.get("RANK", 0))
    started = time.monotonic()

    if rank == 0:
        s = settings
        print(f"[am] training {s['learner'].method} ({s['learner'].fusion} fusion) on {s['dataset']} for "
              f"{s['schedule'].steps} steps into {s['run_dir']}", flush=True)
    try:
        result = train(settings["dataset"], settings["run_dir"], settings["learner"], settings["schedule"],
                       progress=_train_progress if rank == 0 else None)
    except (DatasetError, CheckpointError, FloatingPointError) as exc:
        print(f"am: error: {exc}", file=sys.stderr)
        return 1
    if rank == 0:
        resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
        print(f"[am] trained to step {result.step}{resumed} in {time.monotonic() - started:.1f} s; "
              f"checkpoint {result.checkpoint}")
    return 0


def goal_image(args: argparse.Namespace):
    """The goal image (H, W, 3) RGB uint8 the `am goal` options ask for, and a description of it."""
    import numpy as np

    if args.png:
        import cv2

        if not Path(args.png).is_file():
            raise ConfigFileError(f"--png {args.png}: no such file")
        bgr = cv2.imread(args.png, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ConfigFileError(f"{args.png}: not a readable image file")
        return np.ascontiguousarray(bgr[:, :, ::-1]), f"image file {args.png}"
    if args.bag:
        from actionable_models.data.dataset import DatasetError, frame_rgb, read_header, read_streams

        if not Path(args.bag).is_dir():
            raise ConfigFileError(f"--bag {args.bag}: no such episode directory")
        frames = []
        try:
            read_streams(read_header(Path(args.bag)), on_frame=lambda i, msg: frames.append(msg))
        except DatasetError as exc:
            raise ConfigFileError(str(exc)) from exc
        if not frames:
            raise ConfigFileError(f"{args.bag}: no camera frames")
        if not -len(frames) <= args.frame < len(frames):
            raise ConfigFileError(f"--frame {args.frame}: {args.bag} has {len(frames)} camera frames "
                                  f"(0..{len(frames) - 1}, or -1 for the last)")
        try:  # raw or compressed, as the bag holds it
            rgb = frame_rgb(Path(args.bag), frames[args.frame])
        except DatasetError as exc:
            raise ConfigFileError(str(exc)) from exc
        return rgb, f"frame {args.frame} of {args.bag}"
    from actionable_models.sim.cell import Cell
    from actionable_models.sim.config import CellConfig
    from actionable_models.sim.goals import generate_goal

    cell = Cell(CellConfig(image_width=args.size, image_height=args.size, layout=args.layout))
    try:
        goal = generate_goal(cell, args.task, args.seed, args.layout)
    finally:
        cell.close()
    spec = goal.spec
    where = f" at ({spec.target_xy[0]:.2f}, {spec.target_xy[1]:.2f})" if spec.target_xy else ""
    what = f"{spec.task} of {spec.object}{where}"
    if spec.target_xyz:
        what = "reaching ({:.2f}, {:.2f}, {:.2f})".format(*spec.target_xyz)
    return goal.image, f"{what}, seed {spec.seed}, layout {spec.layout}"


def _cmd_goal(args: argparse.Namespace) -> int:
    import time

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from actionable_models.imaging import rgb_to_image_fields
    from am_common.messages import LATCHED

    if sum(bool(x) for x in (args.png, args.bag, args.task)) != 1:
        raise ConfigFileError("give exactly one goal source: --png FILE, --bag EPISODE_DIR [--frame N] or "
                              "--task TASK [--seed S]")
    rgb, what = goal_image(args)
    if args.save:
        import cv2

        cv2.imwrite(args.save, rgb[:, :, ::-1].copy())
    context = Context()
    rclpy.init(context=context)
    node = Node("am_goal", context=context, start_parameter_services=False)
    publisher = node.create_publisher(Image, "/am/goal_image", LATCHED)
    message = Image(**rgb_to_image_fields(rgb))
    message.header.stamp = node.get_clock().now().to_msg()
    message.header.frame_id = "goal"
    publisher.publish(message)
    print(f"[am] published goal image {rgb.shape[1]}x{rgb.shape[0]} ({what}) on /am/goal_image (latched); "
          f"serving it for {args.seconds:g} s", flush=True)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return 0


def plot_training_curve(metrics_jsonl: Path, out_png: Path) -> Path:
    """A 640x360 PNG of the training run: losses and mean Q against the gradient step, on two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_jsonl.read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    fig, (losses, q) = plt.subplots(1, 2, figsize=(6.4, 3.6), dpi=100, constrained_layout=True)
    for axis, keys, label in ((losses, ("loss/data", "loss/negative"), "cross-entropy"),
                              (q, ("q/mean_data", "q/mean_chained", "q/mean_negative"), "mean Q (probability)")):
        for key in keys:
            points = [(s, r[key]) for s, r in zip(steps, rows) if key in r]
            if points:
                axis.plot(*zip(*points), label=key.split("/")[1])
        axis.set(xlabel="gradient step", ylabel=label)
        if axis.lines:
            axis.legend(fontsize=7)
    q.set_ylim(0, 1)
    losses.set_title("losses", fontsize=9)
    q.set_title("Q of data, chained goals, negatives", fontsize=9)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


MAIN_OWNS = {"dataset": "--out", "run_dir": "--out", "steps": "--train-steps", "batch_size": "--batch-size",
             "checkpoint_every": "--train-steps", "log_every": "--train-steps"}
"""Trainer parameters that am main sets itself, with the option that sets them."""


def main_learner_overrides(items: list[str]) -> dict[str, Any]:
    """``am main --set trainer.PARAM=VALUE``: trainer parameters over config/train.yaml's, checked by name
    before any work (the values are checked with the rest of the config when training starts)."""
    from dataclasses import fields

    from actionable_models.learning.config import LearnerConfig

    overrides = parse_overrides(items)
    others = sorted(set(overrides) - {"trainer"})
    if others:
        raise ConfigFileError(f"am main --set takes trainer.PARAM=VALUE only (the learner's fields), got "
                              f"{', '.join(others)}")
    params = overrides.get("trainer", {})
    for key in params:
        if key in MAIN_OWNS:
            raise ConfigFileError(f"am main --set trainer.{key}: am main sets {key} itself; use {MAIN_OWNS[key]}")
    learner_keys = {f.name for f in fields(LearnerConfig)}
    unknown = sorted(set(params) - learner_keys)
    if unknown:
        raise ConfigFileError(f"am main --set: unknown learner field{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(unknown)}; known: {', '.join(sorted(learner_keys))}")
    return params


def _cmd_main(args: argparse.Namespace) -> int:
    import time

    from actionable_models.data.dataset import DatasetError
    from actionable_models.learning.checkpoint import CheckpointError
    from actionable_models.learning.trainer import train

    from am_bringup import main_state
    from am_bringup.embedded import run

    out = Path(args.out)
    size = args.image_size
    started = time.monotonic()
    print(f"[am main] the whole pipeline on the sim cell, in {out}: collect {args.episodes} play episodes, train "
          f"{args.train_steps} steps, reach {args.goals} held-out goals per task through the policy node.\n"
          f"[am main] budget: under 20 minutes on a 2-core CPU machine (about 10 at the default settings).",
          flush=True)
    view = camera_view_fields(args)
    camera = {"image_width": size, "image_height": size, **view}

    learner_overrides = main_learner_overrides(args.set)
    collect_options = {"episodes": args.episodes, "steps": args.steps, "seed": args.seed, "image_size": size,
                       **view}  # a view given only then, so that older folders are still reused
    train_options = {"train_steps": args.train_steps, "batch_size": args.batch_size}
    if learner_overrides:  # only then, so that a folder from before --set is still reused
        train_options["set"] = learner_overrides
    if args.fresh:
        removed = main_state.remove_outputs(out)
        if removed:
            print(f"[am main] --fresh: removed {', '.join(removed)} from {out}", flush=True)
    done = main_state.plan(out, collect_options, train_options)  # refuses here, before any work
    settings = trainer_settings(find_config("train"), {  # a bad --set value is refused here too
        "dataset": str(out / "play"), "run_dir": str(out / "run"), "steps": args.train_steps,
        "image_size": 64, "batch_size": args.batch_size, "checkpoint_every": args.train_steps,
        "log_every": max(1, args.train_steps // 50), **learner_overrides})

    if done["collect"]:
        print(f"[am main] 1/3 collect: reusing the {args.episodes} episodes in {out / 'play'} (same options)",
              flush=True)
    else:
        print("[am main] 1/3 collect", flush=True)
        result = run(find_config("collect"), {
            "sim_cell": camera, "recorder": {"output_dir": str(out / "play")},
            "play_collector": {"episodes": args.episodes, "base_seed": args.seed, "episode_steps": args.steps}},
            private=not args.discoverable)
        if "play_collector" not in result.results:
            print(f"am: error: collection failed: {result.errors or result.reason}", file=sys.stderr)
            return 1
        main_state.record_stage(out, "collect", collect_options)

    print("[am main] 2/3 train" + (f": reusing the run in {out / 'run'} (same options)" if done["train"] else ""),
          flush=True)

    try:
        trained = train(settings["dataset"], settings["run_dir"], settings["learner"], settings["schedule"],
                        progress=_train_progress)
    except (DatasetError, CheckpointError, FloatingPointError) as exc:
        print(f"am: error: {exc}", file=sys.stderr)
        return 1
    main_state.record_stage(out, "train", train_options)
    curve = plot_training_curve(out / "run" / "metrics.jsonl", out / "training_curve.png")

    print("[am main] 3/3 reach held-out goals", flush=True)
    result = run(find_config("evaluate"), {
        "sim_cell": camera, "policy": {"checkpoint": str(trained.checkpoint)},
        "goal_evaluator": {**camera, "goals_per_task": args.goals, "output_dir": str(out / "eval"),
                           "max_steps": args.eval_steps}}, private=not args.discoverable)
    evaluation = result.results.get("goal_evaluator")
    if evaluation is None:
        print(f"am: error: evaluation failed: {result.errors or result.reason}", file=sys.stderr)
        return 1
    print("\n" + Path(evaluation["results_md"]).read_text())
    print(f"[am main] done in {(time.monotonic() - started) / 60:.1f} min: bags {out / 'play'}, checkpoint "
          f"{trained.checkpoint}, training curve {curve}, results {evaluation['results_md']}, rollouts "
          f"{', '.join(evaluation['gifs'])}")
    return 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
    """Q diagnostics of a checkpoint on held-out episode bags: a table on stdout, diagnostics.md and .png."""
    from actionable_models.data.dataset import DatasetConfig, load_dataset
    from actionable_models.learning import checkpoint as ckpt
    from actionable_models.learning.diagnostics import diagnose, format_rows, plot_rows
    from actionable_models.learning.networks import make_q_network
    from actionable_models.learning.trainer import dataset_transitions

    path = ckpt.resolve_checkpoint(args.run)
    info = ckpt.read_info(path)  # CheckpointError names a missing or bad file
    q = make_q_network(info.config)
    ckpt.load_weights(path, q)
    dataset = load_dataset(Path(args.dataset), DatasetConfig(image_size=info.config.image_size))
    data = dataset_transitions(dataset, info.config)  # with the measured pose and closure for use_proprio
    rows = diagnose(q, info.config, data, samples=args.samples)
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    table = format_rows(rows)
    header = (f"Q diagnostics of {path} (step {info.step}, {info.config.method}) on {dataset.num_episodes} "
              f"episodes of {args.dataset}\n\n")
    (out / "diagnostics.md").write_text(header + table)
    plot_rows(rows, out / "diagnostics.png", title=f"{path.name} (step {info.step}) on {Path(args.dataset).name}")
    print(header + table + f"\n[am diagnose] wrote {out / 'diagnostics.md'} and {out / 'diagnostics.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``am`` command."""
    parser = argparse.ArgumentParser(prog="am", description="Actionable Models for ROS 2")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start a configuration from config/ (nodes + parameters) in one process")
    run_p.add_argument("config", help="configuration name (see `am configs`) or path to a parameter YAML file")
    run_p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                       help="override one parameter of one node (repeatable)")
    run_p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    run_p.set_defaults(func=_cmd_run)
    col_p = sub.add_parser("collect", help="record N scripted play episodes from the sim cell as rosbag2 bags")
    col_p.add_argument("--episodes", type=positive_int, default=20, help="how many episodes (default 20)")
    col_p.add_argument("--seed", type=int, default=1000, help="base seed: episode i uses seed+i (default 1000)")
    col_p.add_argument("--out", default="data/play", help="folder for the episode bags (default data/play)")
    col_p.add_argument("--steps", type=positive_int, default=60, help="control steps per episode (default 60)")
    col_p.add_argument("--layout", default="default", help="scene layout (default 'default')")
    col_p.add_argument("--config", default="collect", help="configuration to start (default 'collect')")
    col_p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                       help="override one parameter of one node (repeatable)")
    col_p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    col_p.set_defaults(func=_cmd_collect)
    ds_p = sub.add_parser("dataset", help="inspect a folder of episode bags or build its training arrays")
    ds_p.add_argument("action", choices=("info", "check", "build", "export"),
                      help="info: episodes, steps, rates, gaps, sizes; check: list problems (exit 1 on errors); "
                           "build: make (or load) the cached training arrays (of bags or a LeRobot v3 folder); "
                           "export: write the bags as a LeRobotDataset v3.0 folder OUT")
    ds_p.add_argument("folder", help="folder of episode bags (build: or a LeRobot v3 folder)")
    ds_p.add_argument("out", nargs="?", default=None, help="export: the folder to write (new or empty)")
    ds_p.add_argument("--format", default="lerobot", choices=("lerobot",), help="export format (default lerobot)")
    ds_p.add_argument("--codec", default="lossless", choices=("lossless", "h264"),
                      help="export: camera video, lossless H.264 RGB (bit-exact) or h264 yuv420p (small)")
    ds_p.add_argument("--image-size", type=positive_int, default=64, help="training image side in pixels (build)")
    ds_p.add_argument("--skip-bad", action="store_true", help="skip bad episodes instead of stopping (build)")
    ds_p.add_argument("--cache-dir", default=None,
                      help="cache root (default $XDG_CACHE_HOME/actionable_models/datasets)")
    ds_p.set_defaults(func=_cmd_dataset)
    tr_p = sub.add_parser("train", help="train the goal-conditioned Q-function on episode bags (torchrun-able)")
    tr_p.add_argument("--dataset", default=None, help="folder of episode bags (default: the config's dataset)")
    tr_p.add_argument("--out", default=None, help="run directory (default: the config's run_dir); resumes if present")
    tr_p.add_argument("--steps", type=positive_int, default=None, help="total gradient steps (default: the config's)")
    tr_p.add_argument("--config", default="train", help="configuration with a 'trainer' entry (default 'train')")
    tr_p.add_argument("--set", action="append", default=[], metavar="trainer.PARAM=VALUE",
                      help="override one trainer parameter (repeatable), e.g. trainer.fusion=early")
    tr_p.set_defaults(func=_cmd_train)
    goal_p = sub.add_parser("goal", help="publish a goal image on /am/goal_image (latched) for a policy")
    goal_p.add_argument("--png", default=None, help="goal from an image file")
    goal_p.add_argument("--bag", default=None, help="goal from a recorded episode bag directory ...")
    goal_p.add_argument("--frame", type=int, default=-1, help="... its camera frame N (default: the last)")
    goal_p.add_argument("--task", default=None,
                        choices=("instance_grasping", "rearrangement", "container_placing", "reaching"),
                        help="goal rendered in the sim cell by driving the scene into the task's goal state")
    goal_p.add_argument("--seed", type=int, default=0, help="scene seed for --task")
    goal_p.add_argument("--layout", default="default", help="scene layout for --task")
    goal_p.add_argument("--size", type=int, default=128, help="rendered size for --task (pixels)")
    goal_p.add_argument("--save", default=None, help="also save the goal image as this PNG file")
    goal_p.add_argument("--seconds", type=float, default=10.0,
                        help="keep serving the latched goal this long (late subscribers still get it)")
    goal_p.set_defaults(func=_cmd_goal)
    main_p = sub.add_parser("main", help="the whole pipeline in the sim cell: collect, train, reach held-out goals")
    main_p.add_argument("--out", default="out/main", help="folder for bags, run, results (default out/main)")
    main_p.add_argument("--episodes", type=positive_int, default=100, help="play episodes to collect (default 100)")
    main_p.add_argument("--steps", type=positive_int, default=40, help="control steps per episode (default 40)")
    main_p.add_argument("--seed", type=int, default=1000, help="base seed of the collection (default 1000)")
    main_p.add_argument("--train-steps", type=positive_int, default=6000, help="gradient steps (default 6000)")
    main_p.add_argument("--batch-size", type=positive_int, default=64, help="training batch (default 64)")
    main_p.add_argument("--goals", type=positive_int, default=10, help="held-out goals per task (default 10)")
    main_p.add_argument("--eval-steps", type=positive_int, default=50,
                        help="control steps per goal (default 50: twice the expert's longest task, 24 steps)")
    main_p.add_argument("--image-size", type=positive_int, default=64, help="camera size of the sim cell (default 64)")
    main_p.add_argument("--set", action="append", default=[], metavar="trainer.PARAM=VALUE",
                        help="a learner field over config/train.yaml's, e.g. trainer.use_proprio=true (repeatable)")
    main_p.add_argument("--fresh", action="store_true",
                        help="start over: remove what an earlier am main wrote into --out (play/, run/, eval/) "
                             "first; without it a rerun reuses the collection and run made with the same options "
                             "and refuses other ones")
    add_camera_view_arguments(main_p)
    main_p.add_argument("--discoverable", action="store_true",
                        help="let other ROS 2 processes see am main's topics (e.g. to watch the camera); by "
                             "default its nodes hear only each other, so two runs on one machine cannot cross")
    main_p.set_defaults(func=_cmd_main)
    dg_p = sub.add_parser("diagnose", help="score a checkpoint's Q-function on held-out episode bags, before any "
                                           "rollout: Q against goal distance, data action against negatives, "
                                           "swapped goals, CEM agreement")
    dg_p.add_argument("run", help="checkpoint file, or run directory (its latest checkpoint)")
    dg_p.add_argument("--dataset", required=True, help="folder of held-out episode bags (not trained on)")
    dg_p.add_argument("--out", default=None, help="folder for diagnostics.md and .png (default: the checkpoint's)")
    dg_p.add_argument("--samples", type=positive_int, default=256, help="transitions per goal distance (default 256)")
    dg_p.set_defaults(func=_cmd_diagnose)
    cfg_p = sub.add_parser("configs", help="list the configurations `am run` knows")
    cfg_p.set_defaults(func=lambda _args: print("\n".join(available_configs())) or 0)
    args = parser.parse_args(argv)
    use_dds_profile()  # large camera frames over shared memory without loss (docs/data.md), before any node
    try:
        return args.func(args)
    except BrokenPipeError:  # `am dataset info ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigFileError as exc:
        print(f"am: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as exc:  # bad parameter values, unknown layout/task names
        print(f"am: error: {exc}", file=sys.stderr)
        return 2
    except ActionableModelsError as exc:  # a bad dataset or checkpoint named by the core
        print(f"am: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
