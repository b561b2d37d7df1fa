"""The adapter's mapping without ROS: checks, clamping, rate limits, staleness, the stop latch, the gripper."""

import dataclasses
import math

import numpy as np
import pytest

from actionable_models.errors import ConfigError
from actionable_models.geometry import quat_from_yaw, yaw_from_quat
from actionable_models.sim.config import CellConfig
from am_real_arm.key_teleop import TeleopState
from am_real_arm.mapping import (ESTOPPED, HOLDING, IDLE, TRACKING, AdapterConfig, CommandMapper, ee_from_pinch,
                                 pinch_from_ee)

DOWN = quat_from_yaw(0.0)


def _mapper(**overrides) -> CommandMapper:
    config = AdapterConfig(**{"rate_hz": 10.0, "max_linear_speed": 0.2, "max_yaw_rate": 1.0, **overrides})
    mapper = CommandMapper(config)
    mapper.on_measured_pose(np.array([0.4, 0.0, 0.2]), DOWN, now=0.0)
    return mapper


def test_limits_default_to_the_sim_cells():
    adapter, cell = AdapterConfig(), CellConfig()
    assert adapter.workspace_min == cell.workspace_min and adapter.workspace_max == cell.workspace_max
    assert adapter.yaw_limits == cell.yaw_limits
    assert adapter.frame_id == "base_link"


@pytest.mark.parametrize("field, value, message", [
    ("workspace_min", (0.7, 0.0, 0.0), "must be below workspace_max"),
    ("rate_hz", 0.0, "rate_hz must be positive"),
    ("max_linear_speed", float("nan"), "max_linear_speed must be positive"),
    ("gripper_deadband", 1.5, "gripper_deadband"),
    ("frame_id", "", "frame_id"),
])
def test_bad_config_values_are_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        AdapterConfig(**{field: value})


def test_command_is_clamped_into_the_box_and_yaw_limits():
    mapper = _mapper(max_linear_speed=100.0, max_yaw_rate=100.0)  # no rate limit: see the clamp alone
    result = mapper.on_pose_command(np.array([2.0, -1.0, -0.5]), quat_from_yaw(3.0), "base_link", now=0.0)
    assert result.accepted and any("outside the workspace box" in p for p in result.problems)
    assert any("outside" in p and "yaw" in p for p in result.problems)
    tick = mapper.tick(now=0.05)
    assert tick.state == TRACKING
    assert np.allclose(tick.target.pos, [0.65, -0.30, 0.005])
    assert math.isclose(tick.target.yaw, math.pi / 2)


@pytest.mark.parametrize("pos, quat, frame, problem", [
    ([0.4, float("nan"), 0.2], DOWN, "base_link", "non-finite"),
    ([0.4, 0.0, 0.2], [0.0, 0.0, 0.0, 0.0], "base_link", "zero quaternion"),
    ([0.4, 0.0, 0.2], DOWN, "world", "expected 'base_link'"),
])
def test_bad_commands_are_rejected_and_keep_the_previous_one(pos, quat, frame, problem):
    mapper = _mapper()
    assert mapper.on_pose_command(np.array([0.45, 0.0, 0.2]), DOWN, "base_link", now=0.0).accepted
    result = mapper.on_pose_command(np.array(pos), np.array(quat), frame, now=0.01)
    assert not result.accepted and problem in result.problems[0]
    assert np.allclose(mapper.command.pos, [0.45, 0.0, 0.2])


def test_target_moves_at_most_max_step_per_tick_and_arrives():
    mapper = _mapper()  # 0.2 m/s and 1 rad/s at 10 Hz: 2 cm and 0.1 rad per tick
    previous = np.array([0.4, 0.0, 0.2])
    xs, yaws = [], []
    for i in range(1, 13):
        mapper.on_pose_command(np.array([0.6, 0.0, 0.2]), quat_from_yaw(0.35), "base_link", now=0.1 * i)
        mapper.on_measured_pose(previous, DOWN, now=0.1 * i)  # the arm keeps up with its target
        tick = mapper.tick(now=0.1 * i)
        assert tick.state == TRACKING
        assert np.linalg.norm(tick.target.pos - previous) <= 0.02 + 1e-9
        previous = tick.target.pos
        xs.append(tick.target.pos[0])
        yaws.append(tick.target.yaw)
    assert np.allclose(xs[:3], [0.42, 0.44, 0.46])
    assert np.allclose(yaws[:4], [0.1, 0.2, 0.3, 0.35])
    assert math.isclose(xs[-1], 0.6)  # 10 ticks of 2 cm, then it stays


def test_stale_or_missing_command_is_not_forwarded():
    mapper = _mapper(command_timeout_s=0.5)
    assert mapper.tick(now=0.0).state == IDLE  # nothing commanded yet
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.0)
    mapper.on_measured_pose(np.array([0.4, 0.0, 0.2]), DOWN, now=0.4)
    assert mapper.tick(now=0.4).target is not None
    mapper.on_measured_pose(np.array([0.42, 0.0, 0.2]), DOWN, now=0.6)
    tick = mapper.tick(now=0.6)
    assert tick.target is None and tick.state == IDLE and "stale" in tick.reason
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.7)
    tick = mapper.tick(now=0.7)
    assert np.allclose(tick.target.pos, [0.44, 0.0, 0.2])  # restarts from the measured pose, not the old target


def test_stale_measured_pose_holds():
    mapper = _mapper(pose_timeout_s=0.3)
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.5)
    tick = mapper.tick(now=0.5)
    assert tick.target is None and tick.state == HOLDING and "measured end-effector pose is stale" in tick.reason


def test_arm_outside_the_box_or_yaw_range_is_not_moved():
    mapper = _mapper()
    mapper.on_measured_pose(np.array([0.4, 0.0, 0.6]), DOWN, now=0.0)  # 25 cm above the box
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.0)
    tick = mapper.tick(now=0.0)
    assert tick.target is None and "outside the workspace box" in tick.reason
    mapper.on_measured_pose(np.array([0.4, 0.0, 0.2]), quat_from_yaw(2.5), now=0.0)
    tick = mapper.tick(now=0.0)
    assert tick.target is None and "yaw" in tick.reason


def test_emergency_stop_latches_holds_and_needs_a_reset_after_release():
    mapper = _mapper()
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.0)
    assert mapper.tick(now=0.0).target is not None
    hold = mapper.on_estop_signal(True)
    assert np.allclose(hold[0], [0.4, 0.0, 0.2]) and np.allclose(hold[1], DOWN)
    assert mapper.on_estop_signal(True) is None  # already latched: no second hold
    assert mapper.tick(now=0.1).state == ESTOPPED
    assert not mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.1).accepted
    assert mapper.on_gripper_command(1.0)[0] is None
    ok, message = mapper.reset()
    assert not ok and "still reads True" in message and mapper.estopped
    mapper.on_estop_signal(False)
    assert mapper.estopped and mapper.tick(now=0.2).state == ESTOPPED  # releasing alone does not reset
    ok, _ = mapper.reset()
    assert ok and not mapper.estopped
    tick = mapper.tick(now=0.2)
    assert tick.target is None and tick.state == IDLE  # the command from before the stop is gone
    mapper.on_pose_command(np.array([0.5, 0.0, 0.2]), DOWN, "base_link", now=0.2)
    assert mapper.tick(now=0.2).state == TRACKING


def test_gripper_closure_maps_onto_positions_with_a_deadband():
    mapper = _mapper(gripper_open_position=0.04, gripper_closed_position=0.0, gripper_max_effort=20.0,
                     gripper_deadband=0.05)  # a Franka Hand: 4 cm per finger open, 0 closed
    goal, problems = mapper.on_gripper_command(1.0)
    assert goal.position == pytest.approx(0.0) and goal.max_effort == 20.0 and not problems
    assert mapper.on_gripper_command(0.98)[0] is None  # within the deadband: nothing new to send
    assert mapper.on_gripper_command(0.5)[0].position == pytest.approx(0.02)
    goal, problems = mapper.on_gripper_command(3.0)
    assert goal.closure == 1.0 and "clamped" in problems[0]
    goal, problems = mapper.on_gripper_command(float("nan"))
    assert goal is None and "not finite" in problems[0]


def test_tcp_offset_round_trips_and_points_down():
    pos, quat = ee_from_pinch(np.array([0.5, 0.1, 0.05]), 0.3, tcp_offset_m=0.15)
    assert np.allclose(pos, [0.5, 0.1, 0.20])  # the flange is above the pinch point when pointing down
    assert math.isclose(yaw_from_quat(quat), 0.3)
    assert np.allclose(pinch_from_ee(pos, quat, 0.15), [0.5, 0.1, 0.05])
    mapper = _mapper(tcp_offset_m=0.15)
    mapper.on_measured_pose(pos, quat, now=0.0)
    assert np.allclose(mapper.measured.pos, [0.5, 0.1, 0.05])


def test_teleop_keys_move_within_the_limits():
    state = TeleopState(step_m=0.02)
    assert state.press("w") is None  # no measured pose yet: nothing to steer
    state.start(np.array([0.64, 0.0, 0.2]), 0.0)
    state.press("w")
    assert math.isclose(state.pos[0], 0.65)  # clamped at the box
    state.press("a"), state.press("f")
    assert np.allclose(state.pos, [0.65, 0.02, 0.18])
    assert state.press("g") == "gripper closed" and state.gripper == 1.0
    for _ in range(30):
        state.press("q")
    assert math.isclose(state.yaw, math.pi / 2)
    fields = {f.name for f in dataclasses.fields(TeleopState)}
    assert {"workspace_min", "workspace_max", "yaw_limits"} <= fields
    assert (TeleopState().workspace_min, TeleopState().workspace_max) == (CellConfig().workspace_min,
                                                                          CellConfig().workspace_max)
