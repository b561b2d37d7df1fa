"""The `am` command and the embedded runner, as a user calls them: real processes, real DDS."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from am_bringup.cli import parse_overrides
from am_bringup.configs import ConfigFileError, available_configs, find_config, read_node_params
from am_bringup.embedded import NODE_CLASSES

REPO = Path(__file__).resolve().parents[3]
AM = [sys.executable, "-m", "am_bringup.cli"]


def _am(*args, timeout=240):
    return subprocess.run([*AM, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def test_every_config_names_only_registered_nodes():
    names = available_configs()
    assert {"demo", "sim"} <= set(names)
    for name in names:
        nodes = read_node_params(find_config(name))
        assert set(nodes) <= set(NODE_CLASSES), (name, nodes)


def test_overrides_parse_as_yaml_scalars():
    assert parse_overrides(["sim_cell.seed=3", "pick_place_demo.objects=[red_cube]", "sim_cell.mode=lockstep"]) == {
        "sim_cell": {"seed": 3, "mode": "lockstep"}, "pick_place_demo": {"objects": ["red_cube"]}}
    with pytest.raises(ConfigFileError, match="NODE.PARAM=VALUE"):
        parse_overrides(["seed=3"])


def test_bad_parameter_files_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sim_cell:\n  seed: 3\n")
    with pytest.raises(ConfigFileError, match=r"bad.yaml: entry 'sim_cell' has no 'ros__parameters'"):
        read_node_params(bad)
    with pytest.raises(ConfigFileError, match="unknown configuration 'nosuch'; known configurations: .*demo"):
        find_config("nosuch")


@pytest.mark.ros
def test_demo_runs_pick_and_place_and_saves_camera_views(tmp_path):
    out = tmp_path / "demo"
    result = _am("run", "demo", "--timeout", "200", "--set", "pick_place_demo.objects=[red_cube, green_cylinder]",
                 "--set", f"pick_place_demo.output_dir={out}", "--set", "sim_cell.seed=4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "red_cube: into the container: success" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempts"] == 2 and summary["successes"] == 2
    start, end = cv2.imread(str(out / "start.png")), cv2.imread(str(out / "end.png"))
    assert start.shape == end.shape == (128, 128, 3)
    assert (start != end).any()


@pytest.mark.ros
def test_unknown_layout_and_config_are_clear_errors():
    result = _am("run", "demo", "--set", "sim_cell.layout=garage", "--timeout", "60")
    assert result.returncode == 2
    assert "unknown scene layout 'garage'" in result.stderr and "default" in result.stderr
    result = _am("run", "demo", "--set", "sim_cell.image_width=abc", "--set", "sim_cell.control_rate_hz=10")
    assert result.returncode == 2
    assert "node sim_cell" in result.stderr and "parameter image_width must be an integer" in result.stderr
    result = _am("run", "nosuch")
    assert result.returncode == 2
    assert "unknown configuration 'nosuch'" in result.stderr


@pytest.mark.ros
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sim_runs_until_signalled_and_stops_cleanly(sig):
    proc = subprocess.Popen([*AM, "run", "sim"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ.copy())
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "sim cell ready" in line:
                break
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, "".join(lines) + out
    assert "[am] interrupted" in out
    assert "Traceback" not in out and "exception" not in out.lower()


def _bag_contents(bag: Path) -> tuple[list[bytes], list[tuple[float, float, float]]]:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    images, commands = [], []
    with Reader(bag) as reader:
        for conn, _t, raw in reader.messages():
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == "/camera/image_raw":
                images.append(bytes(msg.data))
            elif conn.topic == "/arm/cartesian_cmd":
                p = msg.pose.position
                commands.append((p.x, p.y, p.z))
    return images, commands


@pytest.mark.ros
def test_collect_records_seeded_episodes_deterministically(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = _am("collect", "--episodes", "2", "--steps", "15", "--seed", "7", "--out", str(out),
                     "--set", "sim_cell.image_width=64", "--set", "sim_cell.image_height=64", "--timeout", "120")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "collected 2 episodes, 30 steps" in result.stdout
        bags = sorted(out.iterdir())
        assert [b.name for b in bags] == ["episode_000000", "episode_000001"]
        runs.append([_bag_contents(b) for b in bags])
    from actionable_models.data.dataset import DatasetConfig, load_dataset

    datasets = [load_dataset(tmp_path / name, DatasetConfig(cache_dir=tmp_path / "cache")) for name in ("a", "b")]
    assert len(datasets[0]) == 32 and datasets[0].num_episodes == 2
    assert datasets[0].key != datasets[1].key  # recorded at other times: other bags, other caches ...
    for field in ("images", "actions", "ee_pose", "episode", "step", "is_last"):
        assert np.array_equal(getattr(datasets[0], field), getattr(datasets[1], field)), field  # ... same data
    moving = np.abs(datasets[0].actions[:, :3]).max(axis=1) > 0.05
    assert moving.mean() > 0.5  # the collector moves the arm on most steps
    result = _am("dataset", "check", str(tmp_path / "a"))
    assert result.returncode == 0 and "no problems found" in result.stdout, result.stdout + result.stderr
    for (images_a, commands_a), (images_b, commands_b) in zip(*runs):
        assert len(images_a) == 16 and len(commands_a) == 15  # the reset frame, then one frame per command
        assert images_a == images_b
        assert commands_a == commands_b
    assert runs[0][0][0] != runs[0][1][0]  # seeds 7 and 8 are different scenes


def test_compressed_camera_episodes_are_recorded_built_and_trained_on(tmp_path):
    """The sim node publishes jpeg CompressedImage only; the recorder records it, the dataset decodes it."""
    out = tmp_path / "bags"
    result = _am("collect", "--episodes", "2", "--steps", "6", "--out", str(out), "--set", "sim_cell.image_width=64",
                 "--set", "sim_cell.image_height=64", "--set", "sim_cell.image_transport=compressed",
                 "--timeout", "120")
    assert result.returncode == 0, result.stdout + result.stderr
    from actionable_models.data import keys
    from actionable_models.data.dataset import DatasetConfig, load_dataset, read_header
    from actionable_models.learning.config import LearnerConfig
    from actionable_models.learning.trainer import TrainConfig, train

    header = read_header(out / "episode_000000")
    assert header.counts[keys.IMAGE_COMPRESSED] == 7 and header.counts.get(keys.IMAGE, 0) == 0
    dataset = load_dataset(out, DatasetConfig(image_size=32, cache_dir=tmp_path / "cache"))
    assert len(dataset) == 14 and dataset.images.std() > 10  # decoded frames, not blank ones
    learner = LearnerConfig(image_size=32, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4)
    trained = train(out, tmp_path / "run", learner, TrainConfig(steps=3, log_every=1, checkpoint_every=3),
                    DatasetConfig(image_size=32, cache_dir=tmp_path / "cache"))
    assert trained.step == 3 and trained.checkpoint.is_file()


def test_launch_files_start_registered_nodes_with_their_configs():
    """What can be checked without launch_ros: each launch file's nodes, executables and default config."""
    import ast
    import re

    for launch in sorted((REPO / "launch").glob("*.launch.py")):
        source = launch.read_text()
        tree = ast.parse(source)
        nodes = [{kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg in ("package", "executable",
                                                                                         "name")}
                 for call in ast.walk(tree) if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Node"]
        assert nodes, launch
        config_name = re.search(r'"config", "(\w+\.yaml)"', source).group(1)
        config_nodes = read_node_params(REPO / "config" / config_name)
        assert set(config_nodes) <= {n["name"] for n in nodes}, launch  # conditional extras allowed
        for node in nodes:
            assert node["name"] in NODE_CLASSES
            setup = (REPO / "src" / node["package"] / "setup.py").read_text()
            assert f'"{node["executable"]} = ' in setup, (launch, node)


@pytest.mark.ros
def test_goal_command_serves_a_latched_goal_to_late_subscribers(tmp_path):
    import time

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from am_common.messages import LATCHED

    proc = subprocess.Popen([*AM, "goal", "--task", "rearrangement", "--seed", "5", "--size", "64", "--save",
                             str(tmp_path / "goal.png"), "--seconds", "20"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    context = Context()
    rclpy.init(context=context)
    node = Node("late_subscriber", context=context, start_parameter_services=False)
    received = []
    try:
        assert "published goal image 64x64 (rearrangement of" in proc.stdout.readline()
        time.sleep(0.5)  # subscribe only after the goal went out
        node.create_subscription(Image, "/am/goal_image", received.append, LATCHED)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 15
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
    finally:
        proc.kill()
        proc.wait()
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert received and received[0].width == 64 and received[0].encoding == "rgb8"
    saved = cv2.imread(str(tmp_path / "goal.png"))[:, :, ::-1]
    assert np.array_equal(np.frombuffer(bytes(received[0].data), np.uint8).reshape(64, 64, 3), saved)


def test_colcon_build_installs_launch_and_config_where_ros2_launch_looks(tmp_path):
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.skip("colcon is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([str(colcon), "--log-base", str(tmp_path / "log"), "build", "--base-paths",
                             str(REPO / "src"), "--build-base", str(tmp_path / "build"), "--install-base",
                             str(tmp_path / "install")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    share = tmp_path / "install" / "am_bringup" / "share" / "am_bringup"
    for launch in (REPO / "launch").glob("*.launch.py"):
        assert (share / "launch" / launch.name).read_text() == launch.read_text()
    for config in (REPO / "config").glob("*.yaml"):
        assert (share / "config" / config.name).is_file()
    assert (share / "launch" / "reach_goal.launch.py").is_file()
    for package, executable in (("am_sim", "sim_node"), ("am_policy_node", "policy_node"),
                                ("am_dataset_recorder", "recorder_node"), ("am_trainer", "trainer_node")):
        assert (tmp_path / "install" / package / "lib" / package / executable).is_file()
    index = tmp_path / "install" / "am_bringup" / "share" / "ament_index" / "resource_index" / "packages"
    assert (index / "am_bringup").is_file()


def test_shipped_evaluation_uses_the_evaluation_seeds():
    """config/evaluate.yaml writes its seeds as a literal (a parameter file cannot import a constant): it
    must stay the evaluation range of sim/goals.py, apart from collection and validation seeds."""
    from actionable_models.sim.goals import EVALUATION_BASE_SEED

    params = read_node_params(REPO / "config" / "evaluate.yaml")["goal_evaluator"]
    assert params["base_seed"] == EVALUATION_BASE_SEED


@pytest.mark.ros
def test_main_pipeline_runs_end_to_end_at_a_tiny_budget(tmp_path):
    """The README's main command, shrunk: collect, train, reach goals through the real nodes."""
    out = tmp_path / "main"
    result = _am("main", "--out", str(out), "--episodes", "2", "--steps", "10", "--train-steps", "4",
                 "--batch-size", "8", "--goals", "1", "--eval-steps", "4", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "under 20 minutes" in result.stdout  # says its budget up front
    assert len(list((out / "play").glob("episode_*"))) == 2
    assert (out / "run" / "checkpoint-00000004.safetensors").is_file()
    assert cv2.imread(str(out / "training_curve.png")).shape == (360, 640, 3)
    results = json.loads((out / "eval" / "results.json").read_text())
    assert [r["task"] for r in results["results"]] == ["instance_grasping", "rearrangement", "container_placing"]
    # each goal ran its 4 steps, or the (4-step, untrained) policy judged it reached or chose terminate
    assert all(r["steps"] >= 4 or r["policy_stopped"] for r in results["results"])
    assert "| instance_grasping | " in (out / "eval" / "results.md").read_text()
    assert len(list((out / "eval").glob("rollout_*.gif"))) == 3

    # A second run into the same folder reuses the bags and the run, and only evaluates again.
    bags = sorted(p.name for p in (out / "play").glob("episode_*"))
    again = _am("main", "--out", str(out), "--episodes", "2", "--steps", "10", "--train-steps", "4",
                "--batch-size", "8", "--goals", "1", "--eval-steps", "4", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "1/3 collect: reusing the 2 episodes" in again.stdout and "2/3 train: reusing the run" in again.stdout
    assert sorted(p.name for p in (out / "play").glob("episode_*")) == bags
    # Other collection options are refused before any work, naming --fresh; --fresh starts over.
    other = _am("main", "--out", str(out), "--episodes", "3", "--steps", "10", timeout=60)
    assert other.returncode == 2 and "--fresh" in other.stderr and "episodes 2 -> 3" in other.stderr, other.stderr
    assert "Traceback" not in other.stderr and "1/3 collect" not in other.stdout


def test_am_and_launch_files_use_the_fast_dds_profile_for_large_frames(monkeypatch):
    import xml.etree.ElementTree as ET

    from am_bringup.configs import DDS_PROFILE_VARIABLE, use_dds_profile

    profile = REPO / "config" / "fastdds_large_frames.xml"
    ns = {"dds": "http://www.eprosima.com"}
    root = ET.parse(profile).getroot()
    shm = [t for t in root.iterfind(".//dds:transport_descriptor", ns) if t.findtext("dds:type", namespaces=ns) == "SHM"]
    assert int(shm[0].findtext("dds:segment_size", namespaces=ns)) >= 8 * 640 * 480 * 3  # several VGA frames
    participant = root.find(".//dds:participant", ns)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext("dds:rtps/dds:useBuiltinTransports", namespaces=ns) == "false"
    monkeypatch.delenv(DDS_PROFILE_VARIABLE, raising=False)
    monkeypatch.delenv("AM_NO_DDS_PROFILE", raising=False)
    assert use_dds_profile() == str(profile) and os.environ[DDS_PROFILE_VARIABLE] == str(profile)
    monkeypatch.setenv(DDS_PROFILE_VARIABLE, "/etc/my_profile.xml")
    assert use_dds_profile() == "/etc/my_profile.xml"  # a user's own profile wins
    for launch in (REPO / "launch").glob("*.launch.py"):
        assert 'SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE"' in launch.read_text(), launch
