"""Scripted noisy play in the core: seeded, inside the workspace, varied, and with real successes and failures."""

import math

import numpy as np
import pytest

from actionable_models.errors import ConfigError
from actionable_models.sim.cell import Cell
from actionable_models.sim.config import CellConfig
from actionable_models.sim.play import PRIMITIVES, PlayConfig, PlayScript, parse_object_weights
from actionable_models.sim.state import SceneState

EPISODES = 10
MOVED_M = 0.02  # an object counts as moved when its privileged position changed by more than this


@pytest.fixture(scope="module")
def cell():
    c = Cell(CellConfig(image_width=64, image_height=64))
    yield c
    c.close()


def run_episode(cell, cell_seed, play_seed, config=None):
    """Drive the cell with a fresh script until it returns None; commands, the script, start and end states."""
    cell.reset(cell_seed)
    script = PlayScript(np.random.default_rng(play_seed), config)
    start, commands = cell.scene_state(), []
    for _ in range(10_000):
        command = script.act(cell.scene_state())
        if command is None:
            break
        commands.append(command)
        cell.set_command(command.pos, command.yaw, command.gripper)
        cell.step()
    return commands, script, start, cell.scene_state()


@pytest.fixture(scope="module")
def episodes(cell):
    return [run_episode(cell, seed, 1000 + seed) for seed in range(EPISODES)]


def test_same_seeds_give_the_same_commands(cell):
    a, script_a, _, end_a = run_episode(cell, 5, 77)
    b, script_b, _, end_b = run_episode(cell, 5, 77)
    assert len(a) == len(b) > 0
    for ca, cb in zip(a, b):
        assert np.array_equal(ca.pos, cb.pos) and ca.yaw == cb.yaw and ca.gripper == cb.gripper
    assert script_a.log == script_b.log
    assert end_a.to_json() == end_b.to_json()
    c, _, _, _ = run_episode(cell, 5, 78)
    assert not all(np.array_equal(ca.pos, cc.pos) for ca, cc in zip(a, c))


def _assert_in_bounds(commands):
    cfg = CellConfig()
    lo, hi = np.array(cfg.workspace_min), np.array(cfg.workspace_max)
    for command in commands:
        assert command.pos.shape == (3,) and np.all(command.pos >= lo) and np.all(command.pos <= hi)
        assert cfg.yaw_limits[0] <= command.yaw <= cfg.yaw_limits[1]
        assert 0.0 <= command.gripper <= 1.0


def test_commands_stay_in_bounds_and_the_episode_stops_on_budget(cell, episodes):
    for commands, script, _, end in episodes:
        assert len(commands) == PlayConfig().episode_steps == script.steps
        _assert_in_bounds(commands)
        assert script.act(end) is None and script.primitive == "done"
    # Large noise on every channel must still be clamped into the box.
    loud = PlayConfig(episode_steps=25, position_noise_m=0.3, yaw_noise_rad=2.0, gripper_flip_prob=0.5)
    commands, script, _, _ = run_episode(cell, 2, 3, loud)
    assert len(commands) == 25
    _assert_in_bounds(commands)


def test_log_accounts_for_every_step(episodes):
    for commands, script, _, _ in episodes:
        log = script.log
        assert sum(entry["steps"] for entry in log) == len(commands)
        assert all(entry["primitive"] in PRIMITIVES for entry in log)
        assert all(entry["outcome"] in ("success", "failed", "done") for entry in log)
        assert [entry["interrupted"] for entry in log].count(True) <= 1
        assert all(not entry["interrupted"] for entry in log[:-1])


def test_play_is_varied_and_moves_objects(episodes):
    logs = [entry for _, script, _, _ in episodes for entry in script.log]
    kinds = {entry["primitive"] for entry in logs}
    assert len(kinds) >= 4, kinds
    moved = 0
    for _, _, start, end in episodes:
        shift = max(np.linalg.norm(end.object_pos(n) - start.object_pos(n)) for n in start.objects)
        moved += shift > MOVED_M
    assert moved > EPISODES // 2, f"objects moved in only {moved} of {EPISODES} episodes"
    attempts = [e for e in logs if e["primitive"] in ("grasp_lift", "place", "container") and not e["interrupted"]]
    assert any(e["outcome"] == "success" for e in attempts), attempts
    assert any(e["outcome"] == "failed" for e in attempts), attempts


def test_botched_grasps_fail_and_clean_grasps_succeed(cell):
    """The checks behind the outcomes: every deliberate botch misses; noise-free grasps mostly hold."""
    grasps_only = {"grasp_lift": 1.0}
    botched = PlayConfig(episode_steps=40, failure_prob=1.0, primitive_weights=grasps_only)
    clean = PlayConfig(episode_steps=40, failure_prob=0.0, position_noise_m=0.0, yaw_noise_rad=0.0,
                       gripper_flip_prob=0.0, primitive_weights=grasps_only)
    botches, successes = set(), 0
    for seed in range(6):
        _, script, _, _ = run_episode(cell, seed, seed, botched)
        first = script.log[0]
        assert first["botch"] is not None and first["outcome"] == "failed", first
        botches.add(first["botch"])
        _, script, _, _ = run_episode(cell, seed, seed, clean)
        successes += script.log[0]["outcome"] == "success" and script.log[0]["botch"] is None
    assert len(botches) >= 2, botches
    assert successes >= 5


def test_missed_approaches_go_low_beside_the_object_then_grasp(cell):
    """miss_approach_prob 1: every grasp first puts the open gripper at the table 4-20 cm from the object,
    and the noise-free grasp after it still holds; 0 gives exactly the episodes of the default config."""
    grasps_only = {"grasp_lift": 1.0}
    missed = PlayConfig(episode_steps=40, failure_prob=0.0, position_noise_m=0.0, yaw_noise_rad=0.0,
                        gripper_flip_prob=0.0, primitive_weights=grasps_only, miss_approach_prob=1.0)
    successes = 0
    for seed in range(4):
        cell.reset(seed)
        script = PlayScript(np.random.default_rng(seed), missed)
        low_beside = []  # xy distance to the grasped object wherever the open gripper is at the table
        while (command := script.act(state := cell.scene_state())) is not None:
            if not script.log and state.ee_pos[2] < 0.045 and state.gripper < 0.05:  # during the first grasp
                target = script.primitive.split(":")[1]
                low_beside.append(float(np.linalg.norm(state.ee_pos[:2] - state.object_pos(target)[:2])))
            cell.set_command(command.pos, command.yaw, command.gripper)
            cell.step()
        assert low_beside and max(low_beside) > 0.035, (seed, low_beside)
        successes += script.log[0]["outcome"] == "success"
    assert successes >= 3
    a, _, _, _ = run_episode(cell, 3, 1003)
    b, _, _, _ = run_episode(cell, 3, 1003, PlayConfig(miss_approach_prob=0.0))
    assert len(a) == len(b) and all(np.array_equal(ca.pos, cb.pos) for ca, cb in zip(a, b))


def test_primitive_name_and_no_objects():
    state = SceneState(objects={}, ee_pos=np.array([0.42, 0.0, 0.22]), ee_yaw=0.0, gripper=0.0,
                       container=np.array([0.56, 0.2, 0.0]))
    script = PlayScript(np.random.default_rng(0), PlayConfig(episode_steps=5))
    assert script.primitive == "idle"
    for _ in range(5):
        command = script.act(state)
        assert command is not None
        assert script.primitive in ("reach", "random_motion", "release")  # nothing to grasp or push
    assert script.act(state) is None and script.primitive == "done"
    assert sum(entry["steps"] for entry in script.log) == 5


def test_commands_respect_a_smaller_workspace_of_the_cell():
    cell_config = CellConfig(workspace_min=(0.35, -0.1, 0.05), workspace_max=(0.5, 0.1, 0.2), yaw_limits=(-0.5, 0.5))
    state = SceneState(objects={"red_cube": np.array([0.45, 0.05, 0.02, 1.0, 0.0, 0.0, 0.0])},
                       ee_pos=np.array([0.42, 0.0, 0.15]), ee_yaw=0.0, gripper=0.0,
                       container=np.array([0.56, 0.2, 0.0]))
    commands = []
    for seed in range(5):
        script = PlayScript(np.random.default_rng(seed), PlayConfig(episode_steps=30, position_noise_m=0.1),
                            cell=cell_config)
        while (command := script.act(state)) is not None:
            commands.append(command)
    positions = np.array([c.pos for c in commands])
    assert len(commands) == 150
    assert np.all(positions >= cell_config.workspace_min) and np.all(positions <= cell_config.workspace_max)
    assert all(-0.5 <= c.yaw <= 0.5 for c in commands)


def test_object_weights_aim_grasps_at_one_object():
    cell_config = CellConfig()
    objects = {name: np.array([0.40 + 0.05 * i, -0.1, 0.02, 1.0, 0.0, 0.0, 0.0])
               for i, name in enumerate(["blue_bar", "green_cylinder", "red_cube", "yellow_egg"])}
    state = SceneState(objects=objects, ee_pos=np.array([0.42, 0.0, 0.22]), ee_yaw=0.0, gripper=0.0,
                       container=np.array([0.56, 0.2, 0.0]))

    def first_targets(object_weights):
        config = PlayConfig(episode_steps=3, primitive_weights={"grasp_lift": 1.0}, object_weights=object_weights)
        targets = []
        for seed in range(60):
            script = PlayScript(np.random.default_rng(seed), config, cell=cell_config)
            while script.act(state) is not None:
                pass
            targets.append(script.log[0]["object"])
        return targets

    aimed, uniform = first_targets({"red_cube": 12.0}), first_targets({})
    assert aimed.count("red_cube") >= 40 and 5 <= uniform.count("red_cube") <= 25
    assert uniform == first_targets({}) and set(uniform) == set(objects)


@pytest.mark.parametrize("field,value", [
    ("object_weights", {"unicorn": 1.0}), ("object_weights", {"red_cube": 0.0}), ("object_weights", ["red_cube"]),
    ("episode_steps", 0), ("episode_steps", 2.5), ("position_noise_m", -0.01), ("yaw_noise_rad", math.nan),
    ("gripper_flip_prob", 1.5), ("failure_prob", -0.1), ("miss_approach_prob", 2.0),
    ("primitive_weights", {"dance": 1.0}), ("primitive_weights", {"reach": -1.0}), ("primitive_weights", {"reach": 0.0}), ("random_motion_steps", (5, 2)),
    ("push_through_m", (0.1,)),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        PlayConfig(**{field: value})


def test_object_weights_parse_from_text_and_bad_items_are_named():
    assert parse_object_weights("") == {} and parse_object_weights(" red_cube=4, blue_bar=0.5 ") == {
        "red_cube": 4.0, "blue_bar": 0.5}
    for bad, match in (("red_cube", "'red_cube' is not NAME=WEIGHT"), ("red_cube=x", "NAME=WEIGHT"),
                       ("=3", "NAME=WEIGHT"), ("unicorn=2", "unknown objects"), ("red_cube=0", "> 0")):
        with pytest.raises(ConfigError, match=match):
            parse_object_weights(bad)
