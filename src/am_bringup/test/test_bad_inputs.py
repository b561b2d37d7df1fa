"""Bad input from a user, as a user gives it: real `am` processes and real node entry points.

Every row must end with its exit code, a message that names the bad thing, and no Python traceback.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "actionable_models" / "test"))
from bagfactory import write_episode  # noqa: E402

AM = [sys.executable, "-m", "am_bringup.cli"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files a user may hand over, and one good episode bag of 5 frames."""
    root = tmp_path_factory.mktemp("bad_inputs")
    (root / "no_ros_parameters.yaml").write_text("sim_cell:\n  seed: 3\n")
    (root / "not_yaml.yaml").write_text("sim_cell: {ros__parameters: {seed: 3}\n")
    (root / "misspelled.yaml").write_text("sim_cell:\n  ros__parameters:\n    image_widht: 64\n")
    (root / "empty").mkdir()
    (root / "not_an_image.png").write_text("hello")
    (root / "a_file").write_text("")
    (root / "interrupted" / "play").mkdir(parents=True)  # what an am main stopped during collection leaves
    write_episode(root / "bags", 0, frames=5)
    write_episode(root / "compressed", 0, frames=5, encoding="jpeg")
    return root


# (arguments, exit code, words the message must hold); {root} is the fixture's folder.
AM_CASES = [
    # am run: configurations, files, parameters
    (["run", "no_such_config"], 2, ["unknown configuration 'no_such_config'", "known configurations"]),
    (["run", "{root}/no_ros_parameters.yaml"], 2, ["no_ros_parameters.yaml", "ros__parameters"]),
    (["run", "{root}/not_yaml.yaml"], 2, ["not_yaml.yaml", "not valid YAML"]),
    (["run", "{root}/misspelled.yaml", "--timeout", "5"], 2, ["unknown parameter image_widht", "image_width"]),
    (["run", "sim", "--set", "sim_cell.image_widht=64", "--timeout", "5"], 2,
     ["unknown parameter image_widht for node sim_cell", "it knows:", "image_width"]),
    (["run", "sim", "--set", "sim_cell.seed=abc", "--timeout", "5"], 2, ["parameter seed", "integer", "'abc'"]),
    (["run", "sim", "--set", "sim_cell.image_width=2.5", "--timeout", "5"], 2, ["image_width", "integer", "2.5"]),
    (["run", "sim", "--set", "sim_cell.seed=[1"], 2, ["sim_cell.seed=[1", "YAML"]),
    (["run", "sim", "--set", "seed=3"], 2, ["NODE.PARAM=VALUE"]),
    (["run", "sim", "--set", "sim_cell.seed={a: 1}"], 2, ["sim_cell.seed", "not a ROS 2 parameter value"]),
    # am collect
    (["collect", "--out", "{root}/c1", "--set", "play_collector.episode_step=3"], 2,
     ["unknown parameter episode_step", "episode_steps"]),
    (["collect", "--out", "{root}/c2", "--set", "play_collector.failure_prob=2"], 2, ["failure_prob", "[0, 1]", "2"]),
    (["collect", "--out", "{root}/c3", "--episodes", "0"], 2, ["--episodes", "positive integer", "0"]),
    (["collect", "--out", "{root}/c4", "--layout", "no_such_layout"], 2, ["no_such_layout", "known layouts"]),
    (["collect", "--out", "{root}/c5", "--set", "recorder.camera_reliability=sometimes"], 2,
     ["camera_reliability", "best_effort", "'sometimes'"]),
    # am dataset
    (["dataset", "info", "{root}/missing"], 1, ["missing", "does not exist"]),
    (["dataset", "build", "{root}/empty"], 1, ["empty", "no episode directories"]),
    (["dataset", "check", "{root}/a_file"], 1, ["a_file"]),
    (["dataset", "build", "{root}/bags", "--image-size", "0"], 2, ["--image-size", "positive integer"]),
    (["dataset", "export", "{root}/bags"], 2, ["export FOLDER OUT"]),
    (["dataset", "export", "{root}/bags", "{root}/bags"], 1, ["bags", "not empty"]),
    (["dataset", "export", "{root}/bags", "{root}/x", "--codec", "mpeg2"], 2, ["--codec", "invalid choice"]),
    # am train
    (["train", "--set", "trainer.learning_rate=abc"], 2, ["parameter learning_rate", "number", "'abc'"]),
    (["train", "--set", "trainer.lerning_rate=0.1"], 2, ["unknown trainer parameter lerning_rate", "learning_rate"]),
    (["train", "--set", "trainer.fusion=middle"], 2, ["fusion", "late", "'middle'"]),
    (["train", "--set", "trainer.use_proprio=maybe"], 2, ["parameter use_proprio", "boolean", "'maybe'"]),
    (["train", "--dataset", "{root}/missing", "--out", "{root}/t1", "--steps", "1"], 1, ["missing", "does not exist"]),
    (["train", "--config", "{root}/no_ros_parameters.yaml"], 2, ["no_ros_parameters.yaml", "ros__parameters"]),
    # am goal
    (["goal"], 2, ["exactly one goal source"]),
    (["goal", "--png", "{root}/missing.png"], 2, ["missing.png", "no such file"]),
    (["goal", "--png", "{root}/not_an_image.png"], 2, ["not_an_image.png", "not a readable image"]),
    (["goal", "--bag", "{root}/missing"], 2, ["missing", "no such episode directory"]),
    (["goal", "--bag", "{root}/bags/episode_000000", "--frame", "99"], 2, ["--frame 99", "5 camera frames"]),
    (["goal", "--task", "grasp"], 2, ["--task", "invalid choice: 'grasp'"]),
    # am main: refused before any work
    (["main", "--out", "{root}/a_file"], 2, ["a_file", "is a file"]),
    (["main", "--out", "{root}/interrupted"], 2, ["interrupted", "no am_main.json", "--fresh"]),
    (["main", "--out", "{root}/m1", "--episodes", "0"], 2, ["--episodes", "positive integer"]),
    (["main", "--out", "{root}/m2", "--eval-steps", "x"], 2, ["--eval-steps", "'x'"]),
    # am diagnose
    (["diagnose", "{root}/missing", "--dataset", "{root}/bags"], 2, ["missing", "checkpoint does not exist"]),
    (["diagnose", "{root}/empty", "--dataset", "{root}/bags"], 2, ["empty", "holds no checkpoint"]),
    (["diagnose", "{root}/empty", "--dataset", "{root}/bags", "--samples", "-1"], 2, ["--samples", "positive"]),
]


def _check(result, code, words):
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert result.returncode == code, (result.returncode, output[-3000:])
    for word in words:
        assert word in output, (word, output[-3000:])


@pytest.mark.ros
@pytest.mark.parametrize("args,code,words", AM_CASES, ids=[" ".join(c[0])[:60] for c in AM_CASES])
def test_am_names_bad_input_without_a_traceback(files, args, code, words):
    argv = [a.replace("{root}", str(files)) for a in args]
    result = subprocess.run([*AM, *argv], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    _check(result, code, [w.replace("{root}", str(files)) for w in words])


# ros2 run <package> <executable> --ros-args -p NAME:=VALUE, through each node's entry point.
NODE_CASES = [
    ("am_sim.sim_node", ["-p", "image_widht:=64"], ["unknown parameter image_widht", "image_width"]),
    ("am_sim.sim_node", ["-p", "mode:=fast"], ["parameter mode", "'realtime'", "'fast'"]),
    ("am_sim.play_collector", ["-p", "episodes:=0"], ["parameter episodes", "at least 1"]),
    ("am_sim.goal_evaluator", ["-p", "max_step:=5"], ["unknown parameter max_step", "max_steps"]),
    ("am_sim.pick_place_demo", ["-p", "finish:=drop"], ["parameter finish", "'drop'"]),
    ("am_dataset_recorder.recorder_node", ["-p", "output_dir:=3"], ["parameter output_dir", "string"]),
    ("am_trainer.trainer_node", ["-p", "learning_rate:=abc"], ["parameter learning_rate", "number"]),
    ("am_policy_node.policy_node", ["-p", "control_rate_hz:=fast"], ["parameter control_rate_hz", "'fast'"]),
    ("am_real_arm.adapter_node", ["-p", "ee_pose_source:=magic"], ["parameter ee_pose_source", "'magic'"]),
    ("am_real_arm.key_teleop", ["-p", "step:=0.1"], ["unknown parameter step", "step_m"]),
]


@pytest.mark.ros
@pytest.mark.parametrize("module,params,words", NODE_CASES, ids=[f"{c[0]} {' '.join(c[1])}" for c in NODE_CASES])
def test_node_entry_points_log_bad_parameters_and_exit_2(module, params, words):
    code = f"import sys; from {module} import main; sys.exit(main(sys.argv))"
    result = subprocess.run([sys.executable, "-c", code, "--ros-args", *params], capture_output=True, text=True,
                            timeout=120, env=os.environ.copy())
    _check(result, 2, words)
    assert "[ERROR]" in result.stderr  # logged through rcl, as ros2 run / ros2 launch show it


def test_an_integer_is_accepted_where_a_float_belongs_and_not_the_other_way():
    from am_common.param_rules import ParameterError, coerce

    assert coerce("failure_prob", 0, 0.2) == 0.0 and isinstance(coerce("failure_prob", 0, 0.2), float)
    assert coerce("workspace_min", [0, 1, 0], (0.1, 0.2, 0.3)) == (0.0, 1.0, 0.0)
    for name, value, default in (("seed", 2.5, 0), ("progress", 1, True), ("layout", 3, "default"),
                                 ("failure_prob", True, 0.2), ("primitives", "reach", ["reach"])):
        with pytest.raises(ParameterError, match=f"parameter {name} must be"):
            coerce(name, value, default)


@pytest.mark.ros
def test_am_goal_takes_a_frame_of_a_compressed_camera_bag(files, tmp_path):
    """The same --bag path decodes a CompressedImage episode (it read raw images only, and crashed)."""
    import cv2

    result = subprocess.run([*AM, "goal", "--bag", str(files / "compressed" / "episode_000000"), "--frame", "2",
                             "--save", str(tmp_path / "goal.png"), "--seconds", "0.1"],
                            capture_output=True, text=True, timeout=120, env=os.environ.copy())
    _check(result, 0, ["published goal image 16x16", "frame 2 of"])
    assert cv2.imread(str(tmp_path / "goal.png")).shape == (16, 16, 3)
