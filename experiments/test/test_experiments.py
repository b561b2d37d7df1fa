"""The study's own pieces: datasets that mean what they say, and tables that say what the runs did."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actionable_models.errors import ConfigError
from actionable_models.sim.layouts import get_layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compare_runs  # noqa: E402
import report  # noqa: E402
from collect import collect  # noqa: E402


def test_place_episodes_start_with_the_object_in_hand_and_let_it_go():
    seed = 4000
    first = str(np.random.default_rng([seed, 31]).permutation(sorted(get_layout("default").objects))[0])
    arrays = collect(1, 16, seed, 32, 64, "default", ["container"], start_held=True, label_object=first)
    assert arrays["obs"].shape == (17, 32, 32, 3) and arrays["is_last"][-1] and not arrays["is_last"][:-1].any()
    assert arrays["success"][0]  # grasped and lifted before recording began
    assert not arrays["success"][-1]  # carried to the container and let go


def test_grasp_episodes_are_labelled_only_where_the_object_is_held():
    arrays = collect(2, 24, 5000, 32, 64, "default", ["grasp_lift"], failure_prob=0.0, label_object="red_cube")
    assert not arrays["success"][arrays["episode"] == 0][0]  # on the table at the start
    assert arrays["actions"].dtype == np.float32 and np.all(np.abs(arrays["actions"]) <= 1.0)


def _write(out: Path, name: str, successes: list[bool], task: str = "reaching") -> None:
    rows = [{"task": task, "success": s, "ee_to_goal_start_m": 0.2, "ee_to_goal_end_m": 0.1 if s else 0.3}
            for s in successes]
    (out / "eval").mkdir(parents=True, exist_ok=True)
    (out / "eval" / f"{name}.json").write_text(json.dumps({"runs": {name: {"results": rows}}}))


def test_report_pools_seeds_and_writes_only_between_the_markers(tmp_path):
    _write(tmp_path, "full_s0", [True, True, False, False])
    _write(tmp_path, "full_s1", [True, False, False, False])
    _write(tmp_path, "gcbc_s0", [False] * 4)
    _write(tmp_path, "ft_scratch_s0", [False, True], task="instance_grasping")
    (tmp_path / "budget.json").write_text(json.dumps({"episodes": 7, "hours": 0.5}))
    doc = tmp_path / "published.md"
    doc.write_text("intro\n<!-- study:begin -->\nold\n<!-- study:end -->\noutro\n")
    assert report.main([str(tmp_path), "--docs", str(doc)]) == 0
    table = json.loads((tmp_path / "results.json").read_text())["table"]
    assert table["full"]["reaching"]["successes"] == 3 and table["full"]["reaching"]["trials"] == 8
    assert table["full"]["reaching"]["per_seed_rates"] == [0.5, 0.25]
    assert table["full"]["reaching"]["closer_share"] == 3 / 8
    text = doc.read_text()
    assert text.startswith("intro\n<!-- study:begin -->\nBudget: 7 play episodes") and text.endswith("outro\n")
    assert "| full | 3/8 = 0.38" in text and "| gcbc | 0/4 = 0.00" in text and "| scratch | 1/2 = 0.50" in text
    assert "old" not in text


def test_report_draws_success_bars_and_learning_curves_the_same_each_time(tmp_path):
    _write(tmp_path, "full_s0", [True, False])
    _write(tmp_path, "gcbc_s0", [False, False])
    for seed, losses in ((0, (1.0, 0.5)), (1, (0.8, 0.3))):
        run = tmp_path / "runs" / f"full_s{seed}"
        run.mkdir(parents=True)
        run.joinpath("metrics.jsonl").write_text("".join(
            json.dumps({"step": 100 * (i + 1), "loss/total": loss}) + "\n" for i, loss in enumerate(losses)))
    with (tmp_path / "runs" / "full_s1" / "metrics.jsonl").open("a") as log:  # resumed from step 100, then killed
        log.write(json.dumps({"step": 200, "loss/total": 0.3}) + "\n" + '{"step": 300, "loss')
    doc = tmp_path / "docs" / "results.md"
    doc.parent.mkdir()
    doc.write_text("<!-- study:begin -->\n<!-- study:end -->\n")
    assert report.main([str(tmp_path), "--docs", str(doc)]) == 0
    assert report.learning_curves(tmp_path, ("full", "gcbc")) == {"full": ([100, 200], [0.9, 0.4])}
    first = {p.name: p.read_text() for p in (tmp_path / "docs" / "img").iterdir()}
    assert set(first) == {"study_success.svg", "study_training_loss.svg"}
    assert "](img/study_success.svg)" in doc.read_text()
    success, loss = first["study_success.svg"], first["study_training_loss.svg"]
    # matplotlib's SVG with its text kept as text: titles, axis labels, the tasks and the variants
    assert "Success per task on the play dataset" in success and "success rate" in success
    assert ">reaching<" in success and ">full<" in success and ">gcbc<" in success
    assert "Training loss per variant" in loss and "training step" in loss and "loss/total" in loss
    report.main([str(tmp_path), "--docs", str(doc)])
    assert {p.name: p.read_text() for p in (tmp_path / "docs" / "img").iterdir()} == first


def test_compare_runs_finds_the_one_rollout_that_differs(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        _write(out, "full_s0", [True, False, True])
    _write(a, "gcbc_s0", [False, False])
    _write(b, "gcbc_s0", [False, True])
    _write(b, "gcbc_s1", [True])  # only in b: not compared
    assert compare_runs.main([str(a), str(b)]) == 1
    printed = capsys.readouterr().out
    assert "identical: full_s0.json" in printed and f"0 only in {a}, 1 only in {b}" in printed
    assert compare_runs.compare(a, b) == (["full_s0.json"], ["gcbc_s0.json: 1 of 2 rollouts differ"])
    _write(b, "gcbc_s0", [False, False])
    assert compare_runs.main([str(a), str(b)]) == 0


@pytest.mark.ros
@pytest.mark.parametrize("primitives,object_weights", [(None, ""), ("grasp_lift", "red_cube=4")])
def test_core_collection_matches_am_collect_through_dds_and_bags(tmp_path, primitives, object_weights):
    """The study's fast path records what the product records: the same seeds through the sim node, the
    play collector and the recorder into bags, then the dataset builder, give the same frames and actions."""
    from actionable_models.data.dataset import DatasetConfig, load_dataset
    from actionable_models.sim.play import PRIMITIVES, parse_object_weights

    settings = [f"play_collector.object_weights={object_weights}"] if object_weights else []
    settings += [f"play_collector.primitives=[{primitives}]"] if primitives else []
    result = subprocess.run([sys.executable, "-m", "am_bringup.cli", "collect", "--out", str(tmp_path / "bags"),
                             "--episodes", "2", "--steps", "12", "--seed", "1000", "--set", "sim_cell.image_width=64",
                             "--set", "sim_cell.image_height=64", *[a for s in settings for a in ("--set", s)]],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    bags = load_dataset(tmp_path / "bags", DatasetConfig(image_size=32, cache_dir=tmp_path / "cache"))
    core = collect(2, 12, 1000, 32, 64, "default", [primitives] if primitives else list(PRIMITIVES),
                   object_weights=parse_object_weights(object_weights))
    assert len(bags) == len(core["obs"]) == 26
    np.testing.assert_array_equal(bags.episode, core["episode"])
    np.testing.assert_array_equal(bags.is_last, core["is_last"])
    # Bit for bit: the privileged state crosses DDS at full precision (it was rounded to 1e-6 m, which
    # contacts amplified to 9-31 levels in a pixel), and the core path reads the commanded yaw back from
    # its quaternion, as the sim node does.
    np.testing.assert_array_equal(bags.images, core["obs"])
    np.testing.assert_array_equal(bags.actions, core["actions"])


def test_the_expert_fits_the_horizons_the_issue_sets():
    """A grasp and lift in at most 15 control steps, a container placement in at most 25 (the yardstick of
    every evaluation horizon, which is 50 steps)."""
    from expert_steps import table

    result = table([100000, 100001, 100002], ("instance_grasping", "container_placing", "reaching"))
    assert all(row["succeeded"] == 3 for row in result.values())
    assert result["instance_grasping"]["max"] <= 15 and result["container_placing"]["max"] <= 25
    assert 2 * result["container_placing"]["max"] <= 50


def test_state_rung_collects_trains_evaluates_and_tabulates(tmp_path, capsys):
    import state_rung

    data = tmp_path / "play.npz"
    assert state_rung.main(["collect", "--episodes", "4", "--steps", "8", "--scene-episodes", "2",
                            "--out", str(data)]) == 0
    with np.load(data) as arrays:
        assert arrays["obs"].shape == (36, 5 + 7 * 5) and arrays["scene"].tolist() == [1000] * 18 + [1002] * 18
    run = tmp_path / "run"
    assert state_rung.main(["train", "--data", str(data), "--updates", "3", "--batch-size", "8",
                            "--out", str(run)]) == 0
    assert state_rung.main(["evaluate", "--run", str(run), "--goals", "1", "--max-steps", "2",
                            "--tasks", "reaching"]) == 0
    assert state_rung.main(["diagnose", "--run", str(run), "--data", str(data)]) == 0
    capsys.readouterr()
    assert state_rung.main(["table", str(run)]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("| run | play | defaults | 3 x 8 | 0/1 (") or row.startswith("| run | play | defaults | 3 x 8 | 1/1 (")
    # the explicit GCBC baseline trains, evaluates and tabulates the same way
    mle = tmp_path / "mle"
    assert state_rung.main(["train", "--data", str(data), "--variant", "gcbc_mle", "--updates", "3",
                            "--batch-size", "8", "--out", str(mle)]) == 0
    assert state_rung.main(["evaluate", "--run", str(mle), "--goals", "1", "--max-steps", "2",
                            "--tasks", "reaching"]) == 0
    capsys.readouterr()
    assert state_rung.main(["table", str(run), str(mle)]) == 0
    assert "| mle | play | explicit policy by maximum likelihood" in capsys.readouterr().out
    # relative inputs train, diagnose and act; CEM can start around the GCBC policy's action
    rel = tmp_path / "rel"
    assert state_rung.main(["train", "--data", str(data), "--updates", "3", "--batch-size", "8", "--relative",
                            "--goal-difference", "--out", str(rel)]) == 0
    assert state_rung.main(["diagnose", "--run", str(rel), "--data", str(data)]) == 0
    assert state_rung.main(["evaluate", "--run", str(rel), "--goals", "1", "--max-steps", "2", "--tasks", "reaching",
                            "--proposal", str(mle), "--name", "proposal"]) == 0
    assert state_rung.main(["probe", "--run", str(rel), "--task", "instance_grasping", "--goals", "1",
                            "--gcbc", str(mle)]) == 0
    probe = capsys.readouterr().out
    assert "GCBC's action" in probe and "max Q from the goal" in probe
    assert state_rung.main(["expert-path", "--run", str(rel), "--task", "instance_grasping", "--goals", "1"]) == 0
    path = capsys.readouterr().out.splitlines()
    assert path[0].startswith("| steps to go k | Q(expert's action)") and path[2].startswith("| 1 | ")
    assert len(path) >= 2 + 8  # the expert needs more than 8 steps to grasp and lift
    assert state_rung.main(["table", str(rel), "--name", "proposal"]) == 0
    assert "| rel | play | goal_difference, relative | 3 x 8 |" in capsys.readouterr().out
    assert state_rung.main(["pool", f"both={run},{mle}"]) == 0
    pooled = capsys.readouterr().out.splitlines()[-1]
    assert pooled.startswith("| both | run, mle | ") and "/2 = " in pooled  # one reaching goal per run, pooled
    # the object-centric encoding: for Q and for GCBC, saved, reloaded and acted on; not with relative inputs
    for name, variant in (("oc", []), ("oc_mle", ["--variant", "gcbc_mle"])):
        assert state_rung.main(["train", "--data", str(data), "--updates", "2", "--batch-size", "8", *variant,
                                "--object-centric", "--out", str(tmp_path / name)]) == 0
        assert json.loads((tmp_path / name / "config.json").read_text())["object_centric"] is True
        assert state_rung.main(["evaluate", "--run", str(tmp_path / name), "--goals", "1", "--max-steps", "2",
                                "--tasks", "reaching"]) == 0
    assert isinstance(state_rung.load_run(tmp_path / "oc")[0], state_rung.ObjectCentricVectorQ)
    capsys.readouterr()
    assert state_rung.main(["table", str(tmp_path / "oc")]) == 0
    assert "| oc | play | object_centric" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="object_centric"):
        state_rung.main(["train", "--data", str(data), "--updates", "1", "--object-centric", "--relative",
                         "--out", str(tmp_path / "bad")])
    # the action meeting every object's encoding: saved, reloaded and acted on; only on the object-centric Q
    assert state_rung.main(["train", "--data", str(data), "--updates", "2", "--batch-size", "8", "--object-centric",
                            "--object-action", "--out", str(tmp_path / "oa")]) == 0
    assert isinstance(state_rung.load_run(tmp_path / "oa")[0], state_rung.ObjectActionQ)
    assert state_rung.main(["evaluate", "--run", str(tmp_path / "oa"), "--ensemble", str(tmp_path / "oa"),
                            "--goals", "1", "--max-steps", "2", "--tasks", "reaching"]) == 0
    capsys.readouterr()
    assert state_rung.main(["table", str(tmp_path / "oa")]) == 0
    assert "| oa | play | object_action, object_centric" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="object_action"):
        state_rung.main(["train", "--data", str(data), "--updates", "1", "--object-action", "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit):
        state_rung.main(["train", "--data", str(data), "--updates", "1", "--variant", "gcbc_mle", "--object-centric",
                         "--object-action", "--out", str(tmp_path / "bad")])


def test_state_rung_ensemble_averages_member_logits_and_refuses_other_inputs(tmp_path, capsys):
    import state_rung

    data = tmp_path / "play.npz"
    assert state_rung.main(["collect", "--episodes", "2", "--steps", "6", "--out", str(data)]) == 0
    runs = [tmp_path / f"s{seed}" for seed in range(2)]
    for seed, run in enumerate(runs):
        assert state_rung.main(["train", "--data", str(data), "--updates", "2", "--batch-size", "8",
                                "--goal-difference", "--seed", str(seed), "--out", str(run)]) == 0
    ensemble, learner, mean, std, relative = state_rung.load_ensemble(runs)
    members = [state_rung.load_run(run)[0] for run in runs]
    obs, goal = torch.randn(3, len(mean)), torch.randn(3, len(mean))
    actions = torch.rand(3, 5, learner.action_dim) * 2 - 1
    with torch.no_grad():
        logits = torch.stack([m.score(m.embed(obs, goal), actions) for m in members])
        assert torch.allclose(ensemble.score(ensemble.embed(obs, goal), actions), logits.mean(0), atol=1e-5)
        ensemble.pessimism = 1.0
        assert torch.allclose(ensemble.score(ensemble.embed(obs, goal), actions),
                              logits.mean(0) - logits.std(0), atol=1e-5)
    assert state_rung.main(["evaluate", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--goals", "1",
                            "--max-steps", "2", "--tasks", "reaching", "--name", "ens"]) == 0
    assert len(json.loads((runs[0] / "ens.json").read_text())) == 1
    assert state_rung.main(["diagnose", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--data", str(data)]) == 0
    assert (runs[0] / "diagnostics_ensemble.md").read_text().startswith("| k | n | Q(data) |")
    capsys.readouterr()
    assert state_rung.main(["probe", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--task", "container_placing",
                            "--goals", "1", "--base-seed", "200000"]) == 0
    assert "max Q, empty gripper at goal's" in capsys.readouterr().out
    assert state_rung.main(["expert-path", "--run", str(runs[0]), "--ensemble", str(runs[1]),
                            "--task", "instance_grasping", "--goals", "1", "--base-seed", "200000"]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("| 1 | ")
    # the expert drives to a phase, then the ensemble: a row per phase; at 'start' the expert takes no step
    assert state_rung.main(["handover", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--task", "rearrangement",
                            "--goals", "1", "--max-steps", "6", "--phases", "start,descend"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("| start | ") and table[2].endswith("| 0.0 |") and table[3].startswith("| descend | ")
    rows = json.loads((runs[0] / "handover.json").read_text())
    assert [r["handover"] for r in rows] == ["start", "descend"] and rows[1]["expert_steps"] > 0
    with pytest.raises(SystemExit, match="phases"):
        state_rung.handover(runs[0], "rearrangement", 1, ("hover",))
    rel = tmp_path / "rel"
    assert state_rung.main(["train", "--data", str(data), "--updates", "2", "--batch-size", "8", "--relative",
                            "--goal-difference", "--out", str(rel)]) == 0
    with pytest.raises(SystemExit, match="trained on other data or input"):
        state_rung.load_ensemble([runs[0], rel])


def test_state_rung_cem_starts_as_wide_as_cem_init_std():
    """The policy's CEM draws its first samples with LearnerConfig.cem_init_std: the best of 8 samples toward
    the box's face reaches it at 2.0 (a clipped sample lands there with probability 0.31), not at 0.5 (0.02)."""
    import state_rung
    from actionable_models.learning.config import LearnerConfig

    class Linear:  # Q rises along the first motion component: the best actions have it at 1
        def score(self, embedding, actions):
            return actions[..., 0]

    reached = {}
    for std in (0.5, 2.0):
        learner = LearnerConfig(cem_iterations=1, cem_samples=8, cem_elites=2, cem_init_std=std)
        action, _ = state_rung.max_q(Linear(), learner, torch.zeros(64, 1), torch.Generator().manual_seed(0))
        reached[std] = float(action[:, 0].mean())
    assert reached[2.0] > 0.9 > 0.8 > reached[0.5] > 0.5


def test_state_rung_records_the_policys_rollouts_as_play_data(tmp_path, capsys):
    """rollouts writes collect's format: one episode per goal, the commanded actions, a last frame; replaying
    the recorded actions in the cell from the goal's start scene passes the recorded states again."""
    import state_rung
    from actionable_models.actions import ActionSpec
    from actionable_models.sim.cell import Cell
    from actionable_models.sim.config import CellConfig
    from actionable_models.sim.goals import generate_goal

    data, run, out = tmp_path / "play.npz", tmp_path / "run", tmp_path / "rollouts.npz"
    assert state_rung.main(["collect", "--episodes", "2", "--steps", "6", "--out", str(data)]) == 0
    assert state_rung.main(["train", "--data", str(data), "--updates", "2", "--batch-size", "8", "--object-centric",
                            "--out", str(run)]) == 0
    assert state_rung.main(["rollouts", "--run", str(run), "--goals", "2", "--max-steps", "4",
                            "--tasks", "instance_grasping", "--out", str(out)]) == 0
    with np.load(out) as rolled, np.load(data) as play:
        assert set(rolled.files) == set(play.files)
        assert rolled["episode"].tolist() == [0] * 5 + [1] * 5 and rolled["is_last"].sum() == 2
        assert rolled["scene"].tolist() == [300000] * 5 + [300001] * 5
        obs, actions = rolled["obs"], rolled["actions"]
    cell = Cell(CellConfig(image_width=32, image_height=32))
    try:
        goal = generate_goal(cell, "instance_grasping", 300000)
        cell.reset(300000, goal.spec.layout)
        spec = ActionSpec()
        for t in range(4):
            state = cell.scene_state()
            np.testing.assert_allclose(state_rung.state_vector(state), obs[t], atol=1e-5)
            pos, yaw, gripper, _ = spec.to_command(actions[t], state.ee_pos, state.ee_yaw)
            cell.set_command(pos, yaw, gripper)
            cell.step()
        np.testing.assert_allclose(state_rung.state_vector(cell.scene_state()), obs[4], atol=1e-4)
    finally:
        cell.close()
    with pytest.raises(SystemExit):
        state_rung.main(["rollouts", "--run", str(run), "--goals", "2", "--base-seed", "100000", "--out", str(out)])
    assert "would train on them" in capsys.readouterr().err


def test_object_probe_puts_only_the_goals_object_back(tmp_path, capsys):
    """The probe's third scene differs from the goal by the object alone: the same measured pose and
    closure, other pixels where the object was and is; the table has a row per goal and a mean."""
    import object_probe
    import train as train_script
    from actionable_models.sim.cell import Cell
    from actionable_models.sim.config import CellConfig

    cell = Cell(CellConfig(image_width=64, image_height=64))
    try:
        scenes, goal = object_probe.probe_scenes(cell, 200000)
    finally:
        cell.close()
    (start, *_), (held, pos, yaw, closure), (put_back, pos_b, yaw_b, closure_b) = (
        scenes[k] for k in object_probe.OBSERVATIONS)
    # the same measured pose and closure (within the last physics step's integration, which the object's
    # placement brings up to date)
    np.testing.assert_allclose(pos, pos_b, atol=1e-3)
    assert yaw == pytest.approx(yaw_b, abs=1e-3) and closure == pytest.approx(closure_b, abs=1e-3) and closure > 0.2
    assert not np.array_equal(held, put_back) and not np.array_equal(start, put_back)
    np.testing.assert_allclose(held, goal.image, atol=8)  # the expert's goal is the generated goal
    data = tmp_path / "play.npz"
    np.savez(data, **collect(2, 6, 1000, 16, 32, "default", ["grasp_lift"]))
    assert train_script.main([str(data), "--steps", "2", "--batch-size", "4", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert object_probe.main([str(tmp_path / "run"), "--goals", "1", "--camera-size", "32"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| goal seed | object | max Q from the start |") and table[2].startswith("| 200000 |")
    assert table[-1].startswith("| mean | |")
    # the core evaluator's stop: at reached_q 0.01 the policy stops at once, at 1.0 only the horizon ends it
    import evaluate as evaluate_script
    for reached_q, steps, stopped in (("0.01", 0, True), ("1.0", 3, False)):
        out = tmp_path / f"eval_{reached_q}.json"
        assert evaluate_script.main([str(tmp_path / "run"), "--tasks", "reaching", "--goals", "1", "--max-steps", "3",
                                     "--camera-size", "32", "--reached-q", reached_q, "--out", str(out)]) == 0
        row = next(iter(json.loads(out.read_text())["runs"].values()))["results"][0]
        assert (row["steps"], row["policy_stopped"]) == (steps, stopped)
    # another camera view: goals cached for one view are refused for another
    view = ["--camera-pos", "0.92", "0", "0.78", "--camera-target", "0.44", "0", "0.1", "--camera-fovy", "40"]
    cache, out = tmp_path / "goals.pkl", tmp_path / "eval_view.json"
    common = [str(tmp_path / "run"), "--tasks", "reaching", "--goals", "1", "--max-steps", "1", "--camera-size", "32",
              "--goals-cache", str(cache), "--out", str(out)]
    assert evaluate_script.main(common + view) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["camera_pos"] == "[0.92, 0.0, 0.78]"
    (run_report,) = report["runs"].values()
    assert set(run_report["ee_end_error_median_along_across_camera_ray_m"]) == {"reaching"}
    with pytest.raises(SystemExit):
        evaluate_script.main(common)
    assert "holds goals for other settings" in capsys.readouterr().err
    assert object_probe.main([str(tmp_path / "run"), "--goals", "1", "--camera-size", "32", *view]) == 0
