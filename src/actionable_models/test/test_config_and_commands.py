"""Config validation and arm-command checks: bad input gets a clear error, the sim keeps its target."""

import math

import numpy as np
import pytest

from actionable_models.errors import ConfigError, UnknownNameError
from actionable_models.geometry import quat_from_yaw, wrap_half_turn, yaw_from_quat
from actionable_models.sim.commands import check_gripper_command, check_pose_command
from actionable_models.sim.config import CellConfig
from actionable_models.sim.layouts import get_layout, get_object
from actionable_models.sim.tasks import GoalSpec, check_task

CONFIG = CellConfig()
DOWN = quat_from_yaw(0.0)


@pytest.mark.parametrize("yaw", [-1.5, -0.3, 0.0, 0.7, 1.5])
def test_yaw_round_trips_through_quaternion(yaw):
    assert yaw_from_quat(quat_from_yaw(yaw)) == pytest.approx(yaw, abs=1e-12)


def test_plain_z_rotation_reads_as_the_same_yaw():
    rz = np.array([math.cos(0.25), 0.0, 0.0, math.sin(0.25)])
    assert yaw_from_quat(rz) == pytest.approx(0.5)
    assert wrap_half_turn(math.pi / 2 + 0.1) == pytest.approx(-math.pi / 2 + 0.1)


@pytest.mark.parametrize("field,value", [("image_width", 8), ("image_height", 128.0), ("control_rate_hz", 0),
                                         ("physics_timestep", 0.003), ("workspace_min", (0.7, 0, 0)),
                                         ("msaa_samples", 3), ("yaw_limits", (1.0, -1.0))])
def test_bad_config_field_is_named(field, value):
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        CellConfig(**{field: value})


def test_unknown_layout_object_and_task_are_clear_errors():
    with pytest.raises(UnknownNameError, match="unknown scene layout 'kitchen'.*default"):
        CellConfig(layout="kitchen")
    with pytest.raises(UnknownNameError, match="known layouts"):
        get_layout("kitchen")
    with pytest.raises(UnknownNameError, match="unknown object 'banana'"):
        get_object("banana")
    with pytest.raises(UnknownNameError, match="unknown task 'juggling'.*instance_grasping"):
        check_task("juggling")
    with pytest.raises(UnknownNameError):
        GoalSpec("juggling", "red_cube", 0, "default")


def test_pose_inside_workspace_passes_unchanged():
    checked = check_pose_command([0.4, 0.1, 0.2], quat_from_yaw(0.3), "base_link", "base_link", CONFIG)
    assert checked.accepted and not checked.problems
    assert checked.pos.tolist() == [0.4, 0.1, 0.2]
    assert checked.yaw == pytest.approx(0.3)


def test_nan_pose_is_rejected_with_reason():
    checked = check_pose_command([np.nan, 0.1, 0.2], DOWN, "base_link", "base_link", CONFIG)
    assert not checked.accepted
    assert "non-finite" in checked.problems[0]


def test_far_pose_is_clamped_to_the_workspace_box():
    checked = check_pose_command([5.0, -3.0, -1.0], DOWN, "base_link", "base_link", CONFIG)
    assert checked.accepted
    assert checked.pos.tolist() == [CONFIG.workspace_max[0], CONFIG.workspace_min[1], CONFIG.workspace_min[2]]
    assert "outside the workspace box" in checked.problems[0]


def test_wrong_frame_is_rejected_naming_both_frames():
    checked = check_pose_command([0.4, 0.0, 0.2], DOWN, "camera", "base_link", CONFIG)
    assert not checked.accepted
    assert "'camera'" in checked.problems[0] and "'base_link'" in checked.problems[0]


def test_zero_quaternion_is_rejected():
    assert not check_pose_command([0.4, 0.0, 0.2], [0, 0, 0, 0], "base_link", "base_link", CONFIG).accepted


def test_yaw_beyond_limits_is_clamped():
    checked = check_pose_command([0.4, 0.0, 0.2], quat_from_yaw(2.5), "base_link", "base_link", CONFIG)
    assert checked.yaw == pytest.approx(CONFIG.yaw_limits[1])
    assert "yaw" in checked.problems[0]


def test_gripper_values():
    assert check_gripper_command(0.3).value == 0.3
    seven = check_gripper_command(7)
    assert seven.value == 1.0 and "outside 0 (open) .. 1 (closed)" in seven.problems[0]
    assert check_gripper_command(-2).value == 0.0
    assert not check_gripper_command(float("nan")).accepted
