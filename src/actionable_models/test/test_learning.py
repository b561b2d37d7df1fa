"""The learner's pieces on hand-made tiny data: sampler, targets, negatives, CEM, networks, update."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from actionable_models.errors import ConfigError
from actionable_models.learning.cem import cem_maximize
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import EarlyFusionQ, LateFusionQ, PairFusionQ, make_q_network
from actionable_models.learning.objective import ActionableModelsObjective, random_shift, to_tensors
from actionable_models.learning.sampler import GoalSampler, Transitions

SMALL = dict(image_size=16, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4, negative_candidates=8)


def tiny_transitions(episodes=3, length=5, size=16, seed=0):
    rng = np.random.default_rng(seed)
    n = episodes * length
    return Transitions(
        observations=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8),
        actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        episode=np.repeat(np.arange(episodes), length),
        is_last=np.tile(np.r_[np.zeros(length - 1, bool), True], episodes),
    )


def test_sampler_relabels_within_episode_and_chains_across():
    data = tiny_transitions()
    config = LearnerConfig(**SMALL, chain_fraction=0.25)
    batch = GoalSampler(data, config, np.random.default_rng(1)).sample(400)
    own = data.episode[batch.index] == data.episode[batch.goal_index]
    assert not data.is_last[batch.index].any()  # every sample has a next state
    assert np.all(own[~batch.chained]) and not np.any(own[batch.chained])
    assert batch.chained.sum() == 100
    assert np.all(batch.goal_index[~batch.chained] > batch.index[~batch.chained])  # goals lie in the future
    assert np.array_equal(batch.reached, (batch.goal_index == batch.index + 1) & ~batch.chained)
    assert 0.2 < batch.reached[~batch.chained].mean() < 0.6  # k = 1 with p = 0.3, plus clipping at the end
    unchained = GoalSampler(data, LearnerConfig(**SMALL, use_chaining=False), np.random.default_rng(1)).sample(50)
    assert not unchained.chained.any()


def test_past_goals_are_earlier_frames_of_the_same_episode_and_never_rewarded():
    data = tiny_transitions(length=8)
    config = LearnerConfig(**SMALL, chain_fraction=0.25, past_goal_fraction=0.5)
    batch = GoalSampler(data, config, np.random.default_rng(2)).sample(400)
    past = np.arange(100, 300)
    first = batch.index[past] == data.episode_start[batch.index[past]]  # no earlier frame: a relabeled goal
    assert first.any() and not first.all()
    rows = past[~first]
    assert np.all(batch.chained[rows]) and not batch.reached[rows].any()
    assert np.all(data.episode[batch.goal_index[rows]] == data.episode[batch.index[rows]])
    assert np.all(batch.goal_index[rows] < batch.index[rows])
    assert not batch.chained[300:].any() and np.all(batch.goal_index[300:] > batch.index[300:])
    with pytest.raises(ConfigError, match="past_goal_fraction"):
        LearnerConfig(chain_fraction=0.5, past_goal_fraction=0.6)


def _objective(**overrides):
    config = LearnerConfig(**{**SMALL, **overrides})
    torch.manual_seed(0)
    return ActionableModelsObjective(make_q_network(config), config), config


def test_targets_reaching_bootstrapped_and_chained_are_exact(monkeypatch):
    objective, config = _objective(gamma=0.9)
    next_values = torch.tensor([0.2, 0.5, 0.8, 0.4])
    monkeypatch.setattr(objective, "max_next_q",
                        lambda next_obs, goal, next_action=None, logged_only=None, needed=None: next_values)
    batch = {"next_obs": torch.zeros(4, 3, 16, 16, dtype=torch.uint8), "goal": torch.zeros(4, 3, 16, 16,
                                                                                          dtype=torch.uint8),
             "reached": torch.tensor([True, False, False, False]), "chained": torch.tensor([False, False, True, True])}
    targets = objective.data_targets(batch)
    # reaching step: reward 1; bootstrapped step: gamma * max Q_target(s', a', g); chained: the same,
    # never a reward, also at an episode's end
    assert targets.tolist() == pytest.approx([1.0, 0.9 * 0.5, 0.9 * 0.8, 0.9 * 0.4])
    gcbc, _ = _objective(method="gcbc")
    assert gcbc.data_targets(batch).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_the_cem_max_runs_only_on_rows_whose_target_uses_it():
    objective, config = _objective()
    obs = torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)
    full = objective.max_next_q(obs, obs)
    objective.generator.manual_seed(config.seed)
    calls = []
    import actionable_models.learning.objective as module

    real = module.cem_maximize
    module.cem_maximize = lambda score, n, *a, **k: calls.append(n) or real(score, n, *a, **k)
    try:
        part = objective.max_next_q(obs, obs, torch.zeros(4, 6), logged_only=torch.tensor([True, False, False, False]),
                                    needed=torch.tensor([True, True, False, True]))
    finally:
        module.cem_maximize = real
    assert calls == [2]  # rows 1 and 3: row 0 is logged-only, row 2 is rewarded
    assert torch.isfinite(part).all() and part.shape == full.shape
    assert part[0] == torch.sigmoid(objective.q_target.score(objective.q_target.embed(obs[:1], obs[:1]),
                                                             torch.zeros(1, 1, 6))).squeeze()


def test_max_next_q_is_the_sigmoid_of_the_target_networks_best_action():
    objective, config = _objective(cem_iterations=4, cem_samples=64, cem_elites=6)
    obs = torch.randint(0, 255, (3, 3, 16, 16), dtype=torch.uint8)
    value = objective.max_next_q(obs, obs)
    with torch.no_grad():
        grid = torch.rand(3, 4096, 6) * 2 - 1
        brute = torch.sigmoid(objective.q_target(obs, obs, grid)).max(dim=1).values
    assert torch.all(value >= brute - 0.02)  # CEM finds at least about the best of 4096 random actions
    assert torch.all(value <= 1.0)


def test_cem_finds_the_maximum_of_a_concave_score():
    best = torch.tensor([[0.3, -0.6, 0.9, 0.0, -1.0, 1.0]])
    action, value = cem_maximize(lambda a: -((a - best.unsqueeze(1)) ** 2).sum(-1), 1, 6, 6, 128, 12,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose(action, best, atol=0.08)
    assert value.item() > -0.02


def test_negatives_avoid_the_data_action_and_follow_exp_q():
    objective, config = _objective(negative_candidates=32, num_negatives=4, negative_temperature=0.05,
                                   negative_min_distance=0.5)
    data_action = torch.zeros(64, 6)

    class PrefersPositiveX(torch.nn.Module):
        def score(self, embedding, actions):
            return 20.0 * actions[..., 0]  # Q ~ 1 where x > 0, ~ 0 where x < 0

    objective.q = PrefersPositiveX()
    negatives = objective.sample_negatives(torch.zeros(64, 1), data_action)
    assert negatives.shape == (64, 4, 6)
    assert torch.all(negatives.norm(dim=-1) >= 0.5)
    assert (negatives[..., 0] > 0).float().mean() > 0.9  # high-Q unseen actions are the ones pushed down


@pytest.mark.parametrize("scale, share", [("probability", (0.3, 0.7)), ("logit", (0.9, 1.0))])
def test_logit_scaled_negatives_pick_the_overrated_action_among_small_values(scale, share):
    """Far from a goal every Q is a few per cent: exp(Q / T) is then about uniform, exp(logit / T) is not."""
    objective, config = _objective(negative_candidates=32, num_negatives=4, negative_temperature=0.3,
                                   negative_min_distance=0.5, negative_scale=scale)
    data_action = torch.zeros(64, 6)

    class SmallValues(torch.nn.Module):
        def score(self, embedding, actions):
            return torch.where(actions[..., 0] > 0, -2.0, -4.0) * torch.ones(actions.shape[:-1])  # Q 0.12 or 0.02

    objective.q = SmallValues()
    negatives = objective.sample_negatives(torch.zeros(64, 1), data_action)
    assert torch.all(negatives.norm(dim=-1) >= 0.5)
    low, high = share
    assert low <= (negatives[..., 0] > 0).float().mean() <= high


def test_negative_scale_is_checked():
    with pytest.raises(ConfigError, match="negative_scale"):
        LearnerConfig(negative_scale="odds")


def test_random_shift_keeps_shape_and_content_range():
    images = torch.randint(0, 255, (5, 3, 16, 16), dtype=torch.uint8)
    shifted = random_shift(images, 4, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    assert not torch.equal(shifted, images)
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


@pytest.mark.parametrize("cls", [LateFusionQ, EarlyFusionQ])
def test_networks_score_many_actions_per_state(cls):
    config = LearnerConfig(**SMALL)
    q = cls(config)
    obs = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    logits = q(obs, obs, torch.rand(2, 7, 6) * 2 - 1)
    assert logits.shape == (2, 7)
    single = q(obs[:1], obs[:1], torch.zeros(1, 1, 6))
    assert single.shape == (1, 1)


def test_update_learns_and_stops_on_nan():
    data = tiny_transitions()
    objective, config = _objective(learning_rate=1e-3)
    sampler = GoalSampler(data, config, np.random.default_rng(0))
    first = [objective.update(to_tensors(sampler.sample(8).arrays(data)))["loss/total"] for _ in range(3)]
    for _ in range(40):
        last = objective.update(to_tensors(sampler.sample(8).arrays(data)))
    assert set(last) >= {"loss/data", "loss/negative", "q/mean_data", "q/mean_negative", "target/mean"}
    assert last["loss/total"] < np.mean(first)
    bad = to_tensors(sampler.sample(8).arrays(data))
    bad["action"][0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        objective.update(bad)


@pytest.mark.parametrize("field,value", [("fusion", "middle"), ("method", "ppo"), ("image_size", 40),
                                         ("gamma", 1.5), ("cem_elites", 500), ("num_negatives", 100),
                                         ("cem_init_std", 0.0)])
def test_bad_learner_config_is_named(field, value):
    with pytest.raises(ConfigError, match=field):
        LearnerConfig(**{field: value})


def test_far_targets_keep_their_direction_in_the_normalised_action():
    from actionable_models.actions import ActionSpec

    spec = ActionSpec(max_translation_m=0.05, max_yaw_rad=0.3)
    action = spec.normalize(np.array([0.5, 0.3, 0.2]), 0.0, 1.0, np.zeros(3), 0.0)
    direction = np.array([0.5, 0.3, 0.2]) / np.linalg.norm([0.5, 0.3, 0.2])
    assert np.allclose(action[:3], direction, atol=1e-6)  # one step's reach along the line to the target
    near = spec.normalize(np.array([0.01, -0.02, 0.0]), 0.1, 0.0, np.zeros(3), 0.0)
    assert np.allclose(near, [0.2, -0.4, 0.0, 0.1 / 0.3, -1.0, -1.0], atol=1e-6)
    pos, yaw, gripper, terminate = spec.to_command(near, np.zeros(3), 0.0)
    assert np.allclose(pos, [0.01, -0.02, 0.0]) and yaw == pytest.approx(0.1) and gripper == 0.0 and not terminate


def test_from_command_inverts_to_command_where_normalize_shortens_the_step():
    from actionable_models.actions import ActionSpec

    spec = ActionSpec(max_translation_m=0.05, max_yaw_rad=0.3)
    action = np.array([1.0, -1.0, 0.6, -0.5, 1.0, -1.0], dtype=np.float32)  # a corner: longer than one step
    ee_pos, ee_yaw = np.array([0.4, 0.1, 0.2]), 0.3
    pos, yaw, gripper, _ = spec.to_command(action, ee_pos, ee_yaw)
    np.testing.assert_allclose(spec.from_command(pos, yaw, gripper, ee_pos, ee_yaw), action, atol=1e-6)
    assert np.linalg.norm(spec.normalize(pos, yaw, gripper, ee_pos, ee_yaw)[:3]) == pytest.approx(1.0)
    beyond = spec.from_command(ee_pos + [0.2, 0.0, 0.0], ee_yaw, 0.0, ee_pos, ee_yaw)
    assert beyond.tolist() == [1.0, 0.0, 0.0, 0.0, -1.0, -1.0]


def test_the_logged_next_action_bounds_the_max_from_below():
    objective, config = _objective(cem_iterations=1, cem_samples=4, cem_elites=2)

    class NarrowPeak(torch.nn.Module):
        def embed(self, obs, goal):
            return torch.zeros(obs.shape[0], 1)

        def score(self, embedding, actions):  # high only within 0.01 of (0.9, ..., 0.9): CEM will miss it
            return 10.0 - 1000.0 * ((actions - 0.9) ** 2).sum(-1)

    objective.q_target = NarrowPeak()
    obs = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    missed = objective.max_next_q(obs, obs)
    bounded = objective.max_next_q(obs, obs, torch.full((2, 6), 0.9))
    assert torch.all(missed < 0.5)
    assert torch.allclose(bounded, torch.sigmoid(torch.tensor(10.0)).expand(2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["actionable_models", "gcbc"])
def test_an_update_on_cuda_draws_what_the_cpu_draws(method):
    """All draws come from the objective's CPU generator, so a CUDA run samples what a CPU run samples."""
    data = tiny_transitions()
    config = LearnerConfig(**SMALL, method=method)
    batch = to_tensors(GoalSampler(data, config, np.random.default_rng(0)).sample(8).arrays(data))
    metrics, states = {}, {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        objective = ActionableModelsObjective(make_q_network(config), config, device)
        metrics[device] = objective.update({k: v.to(device) for k, v in batch.items()})
        states[device] = objective.generator.get_state()
        assert all(np.isfinite(v) for v in metrics[device].values())
    assert torch.equal(states["cuda"], states["cpu"])  # as many draws, from the same generator
    assert metrics["cuda"]["loss/total"] == pytest.approx(metrics["cpu"]["loss/total"], rel=1e-2)


@pytest.mark.parametrize("method", ["actionable_models", "gcbc"])
def test_bf16_and_fp32_updates_agree(method):
    """bf16 autocast changes the arithmetic, not what is learned: from the same weights and batch, one update
    in each precision gives losses within 0.1 % and weights that moved the same way: Adam's first step is
    about lr * sign(grad), so tiny gradients that change sign in bf16 lower the cosine of the weight changes
    (measured 0.95-0.96); above 0.9 is the tolerance."""
    data = tiny_transitions()
    batch = to_tensors(GoalSampler(data, LearnerConfig(**SMALL), np.random.default_rng(0)).sample(8).arrays(data))
    metrics, moved = {}, {}
    for precision in ("fp32", "bf16"):
        objective, _ = _objective(method=method, precision=precision)
        before = torch.cat([p.detach().flatten().clone() for p in objective.q.parameters()])
        metrics[precision] = objective.update(dict(batch))
        moved[precision] = torch.cat([p.detach().flatten() for p in objective.q.parameters()]) - before
    assert metrics["bf16"]["loss/total"] == pytest.approx(metrics["fp32"]["loss/total"], rel=1e-3)
    assert torch.nn.functional.cosine_similarity(moved["bf16"], moved["fp32"], dim=0) > 0.9


def test_chained_goals_come_from_other_episodes_of_the_same_scene():
    data = tiny_transitions(episodes=5)
    # episodes 0-1 share scene 7, episodes 2-4 scene 9; episode 4 alone would keep its relabeled goals
    scene = np.repeat([7, 7, 9, 9, 9], 5)
    scoped = Transitions(data.observations, data.actions, data.episode, data.is_last, scene)
    by_scene = LearnerConfig(**SMALL, chain_fraction=0.5, chain_scope="scene")
    batch = GoalSampler(scoped, by_scene, np.random.default_rng(0)).sample(400)
    c = batch.chained
    assert c.sum() == 200 and np.all(scene[batch.goal_index[c]] == scene[batch.index[c]])
    assert np.all(data.episode[batch.goal_index[c]] != data.episode[batch.index[c]])
    alone = np.r_[[3] * 5, [4] * 5]
    single = Transitions(data.observations[15:], data.actions[15:], data.episode[15:], data.is_last[15:], alone)
    assert not GoalSampler(single, by_scene, np.random.default_rng(0)).sample(50).chained.any()
    # chain_scope 'dataset' (the default) draws from every other episode, whatever the scene ids say
    anywhere = GoalSampler(scoped, LearnerConfig(**SMALL, chain_fraction=0.5), np.random.default_rng(0)).sample(400)
    c = anywhere.chained
    assert c.sum() == 200 and np.any(scene[anywhere.goal_index[c]] != scene[anywhere.index[c]])
    assert np.all(data.episode[anywhere.goal_index[c]] != data.episode[anywhere.index[c]])


def test_cem_and_negatives_hold_gripper_and_terminate_at_the_corners():
    objective, config = _objective()
    candidates = objective.negative_candidates(torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, -1.0]]).repeat(4, 1))
    assert set(candidates[..., 4:].unique().tolist()) <= {-1.0, 1.0}
    action, _ = cem_maximize(lambda a: -((a[..., :4] - 0.3) ** 2).sum(-1) + a[..., 4] - a[..., 5], 2, 6, 3, 32, 4,
                             binary_dims=config.binary_dims)
    assert action[:, 4].tolist() == [1.0, 1.0] and action[:, 5].tolist() == [-1.0, -1.0]


def test_diagnostics_rank_a_q_function_that_knows_the_data():
    """An oracle that scores 1 for the data action of a frame toward its own episode's frames and 0 otherwise
    must show Q(data) 1, Q(swapped) 0 and the data action above every negative."""
    from actionable_models.learning.diagnostics import diagnose, format_rows

    rng = np.random.default_rng(0)
    episode = np.repeat(np.arange(4), 20)
    actions = rng.uniform(-1, 1, (80, 6)).astype(np.float32)
    actions[:, 4:] = np.sign(actions[:, 4:])
    obs = np.concatenate([episode[:, None], actions], axis=1).astype(np.float32)  # the data action is in s

    class Oracle(torch.nn.Module):
        def embed(self, obs, goal):
            return torch.cat([(obs[:, :1] == goal[:, :1]).float(), obs[:, 1:]], dim=1)

        def score(self, embedding, actions):
            close = -((actions - embedding[:, None, 1:]) ** 2).sum(-1)
            return torch.where(embedding[:, :1] > 0, 20 + 20 * close, torch.full_like(close, -20.0))

    is_last = np.tile(np.r_[np.zeros(19, bool), True], 4)
    rows = diagnose(Oracle(), LearnerConfig(**SMALL), Transitions(obs, actions, episode, is_last),
                    distances=(1, 4), samples=30)
    assert [r.k for r in rows] == [1, 4]
    assert all(r.q_data > 0.99 and r.q_swapped < 0.01 and r.outranks_negatives == 1.0 for r in rows)
    assert "| 4 |" in format_rows(rows)


def test_chained_rows_can_bootstrap_from_the_logged_next_action_alone():
    objective, _ = _objective(chain_bootstrap="logged", cem_iterations=1, cem_samples=4, cem_elites=2)

    class Peaks(torch.nn.Module):  # 5 everywhere, -5 at the logged action (all zeros)
        def embed(self, obs, goal):
            return torch.zeros(obs.shape[0], 1)

        def score(self, embedding, actions):
            return torch.where(actions.abs().sum(-1) == 0, -5.0, 5.0)

    objective.q_target = Peaks()
    obs = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    values = objective.max_next_q(obs, obs, torch.zeros(2, 6), logged_only=torch.tensor([True, False]))
    assert values.tolist() == pytest.approx([torch.sigmoid(torch.tensor(-5.0)).item(),
                                             torch.sigmoid(torch.tensor(5.0)).item()])


def test_vector_q_with_goal_difference_reads_what_differs():
    from actionable_models.learning.networks import VectorLateFusionQ

    config = LearnerConfig(**SMALL)
    torch.manual_seed(0)
    q = VectorLateFusionQ(config, 5, goal_difference=True)
    obs = torch.zeros(3, 5)
    goal = obs.clone()
    goal[1, 2] = 1.0  # one component differs
    logits = q(obs, goal, torch.zeros(3, 2, 6))
    assert logits.shape == (3, 2) and logits[0, 0] == logits[2, 0] and logits[1, 0] != logits[0, 0]
    assert sum(p.numel() for p in q.parameters()) > sum(p.numel() for p in VectorLateFusionQ(config, 5).parameters())


def test_object_centric_q_encodes_every_object_with_one_encoder():
    from actionable_models.learning.networks import ObjectCentricVectorQ

    config = LearnerConfig(**SMALL)
    torch.manual_seed(0)
    q = ObjectCentricVectorQ(config, 5 + 3 * 7)
    obs = torch.zeros(3, 26)
    goal = obs.clone()
    goal[1, 5 + 7] = 1.0  # the second object's x differs in the goal of row 1
    logits = q(obs, goal, torch.zeros(3, 2, 6))
    assert logits.shape == (3, 2) and torch.allclose(logits[0], logits[2])
    assert abs(logits[1, 0] - logits[0, 0]) > 1e-5
    # One encoder for all objects: a fourth object adds only its slot's input column, not another encoder.
    more = ObjectCentricVectorQ(config, 5 + 4 * 7)
    assert sum(p.numel() for p in more.parameters()) - sum(p.numel() for p in q.parameters()) == config.embed_dim
    for bad in (5, 5 + 7 + 3):
        with pytest.raises(ConfigError, match="state_dim"):
            ObjectCentricVectorQ(config, bad)


def test_object_action_q_scores_each_action_against_every_object():
    from actionable_models.learning.networks import ObjectActionQ

    config = LearnerConfig(**SMALL)
    torch.manual_seed(0)
    q = ObjectActionQ(config, 5 + 3 * 7, width=16)
    obs, goal, actions = torch.randn(3, 26), torch.randn(3, 26), torch.rand(3, 4, 6) * 2 - 1
    embedding = q.embed(obs, goal)
    assert embedding.shape == (3, config.embed_dim + 3 * 16)  # the late-fusion embedding, then one key per object
    logits = q.score(embedding, actions)
    assert logits.shape == (3, 4) and torch.allclose(q(obs, goal, actions), logits)
    # rows of the embedding can be picked and stacked, as CEM targets and ensembles do
    assert torch.allclose(q.score(embedding[1:], actions[1:]), logits[1:], atol=1e-6)
    with torch.no_grad():
        q.object_out.weight.zero_()
    assert not torch.allclose(q.score(embedding, actions), logits)  # the objects' path changes the ranking


def _which_object_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A goal lifts one of three objects; the action that moves the pinch point onto that object (first) against
    ones onto the two other objects and two within about 0.3 of the right one."""
    obs = torch.randn(n, 5 + 3 * 7, generator=generator)
    goal = obs.clone()
    which = torch.randint(0, 3, (n,), generator=generator)
    goal[torch.arange(n), 5 + 7 * which + 2] += 2.0
    offsets = (obs[:, 5:].unflatten(1, (3, 7))[..., :3] - obs[:, None, :3]).clamp(-1, 1)  # (n, 3 objects, 3)
    right = offsets[torch.arange(n), which]
    others = torch.stack([offsets[torch.arange(n), (which + j) % 3] for j in (1, 2)], 1)
    near = right[:, None] + 0.3 * torch.randn(n, 2, 3, generator=generator)
    motions = torch.cat([right[:, None], others, near], 1)
    return obs, goal, torch.cat([motions, torch.full((n, 5, 3), -1.0)], 2)


def test_object_action_q_learns_which_object_an_action_reaches():
    from actionable_models.learning.networks import ObjectActionQ

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    q = ObjectActionQ(LearnerConfig(embed_dim=64), 26)
    optimizer = torch.optim.Adam(q.parameters(), lr=3e-3)
    for _ in range(400):
        obs, goal, actions = _which_object_batch(64, generator)
        loss = torch.nn.functional.cross_entropy(q(obs, goal, actions), torch.zeros(64, dtype=torch.long))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    obs, goal, actions = _which_object_batch(500, torch.Generator().manual_seed(1))
    with torch.no_grad():
        accuracy = (q(obs, goal, actions).argmax(dim=1) == 0).float().mean().item()
    assert accuracy > 0.8  # 0.2 is chance among the five


@pytest.mark.parametrize("object_centric", [False, True])
def test_explicit_goal_conditioned_policy_learns_the_data_action_by_maximum_likelihood(object_centric):
    from actionable_models.learning.gc_policy import GoalConditionedPolicy, ObjectCentricGoalPolicy, sample_future_goals

    dim = 5 + 7 if object_centric else 6  # the object-centric layout: 5 gripper values and one 7-value object
    data = Transitions(np.eye(dim, dtype=np.float32)[np.arange(12) % 6], np.tile([[0.5, -0.5, 0, 0, 1, -1]], (12, 1))
                       .astype(np.float32), np.repeat([0, 1], 6), np.tile(np.r_[np.zeros(5, bool), True], 2))
    index, goal = sample_future_goals(data, 500, np.random.default_rng(0))
    assert np.all(goal > index) and np.all(data.episode[goal] == data.episode[index])
    assert {int(k) for k in goal - index} == {1, 2, 3, 4, 5}  # uniform over the future, not only the next frame
    torch.manual_seed(0)
    policy = (ObjectCentricGoalPolicy if object_centric else GoalConditionedPolicy)(dim, hidden=32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    obs, actions = torch.as_tensor(data.observations), torch.as_tensor(data.actions)
    for _ in range(300):
        loss = policy.nll(obs[index[:64]], obs[goal[:64]], actions[index[:64]])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    act = policy.act(obs[:2], obs[3:5])
    assert torch.allclose(act[:, :4], torch.tensor([0.5, -0.5, 0.0, 0.0]), atol=0.05)
    assert act[:, 4:].tolist() == [[1.0, -1.0], [1.0, -1.0]]


# ------------------------------------------------------------------ proprio (use_proprio): pose and closure
def proprio_transitions(episodes=3, length=5, size=16, seed=0):
    """tiny_transitions with a scaled proprio per step: x, y, z, yaw and a closure that flips mid-episode."""
    from actionable_models.learning.proprio import proprio_vector

    data = tiny_transitions(episodes, length, size, seed)
    rng = np.random.default_rng(seed + 1)
    n = episodes * length
    pose = np.c_[rng.uniform(0.3, 0.6, n), rng.uniform(-0.2, 0.2, n), rng.uniform(0.01, 0.3, n),
                 rng.uniform(-1.5, 1.5, n)]
    closure = np.tile(np.r_[np.zeros(length // 2), np.ones(length - length // 2)], episodes)
    return Transitions(data.observations, data.actions, data.episode, data.is_last,
                       proprio=proprio_vector(pose, closure))


def test_proprio_scaling_uses_the_cells_workspace_constants():
    from actionable_models.learning import proprio
    from actionable_models.sim.config import CellConfig

    cell = CellConfig()
    assert proprio.WORKSPACE_MIN == cell.workspace_min and proprio.WORKSPACE_MAX == cell.workspace_max
    assert proprio.YAW_LIMITS == tuple(cell.yaw_limits)
    corners = np.array([[*cell.workspace_min, cell.yaw_limits[0]], [*cell.workspace_max, cell.yaw_limits[1]]])
    scaled = proprio.proprio_vector(corners, np.array([0.0, 1.0]))
    assert scaled.dtype == np.float32 and scaled.shape == (2, proprio.PROPRIO_DIM)
    assert np.allclose(scaled, [[-1] * 5, [1] * 5], atol=1e-6)
    assert np.allclose(proprio.proprio_vector(np.r_[0.45, 0.0, 0.1775, 0.0], 0.5), 0, atol=1e-6)
    with pytest.raises(ValueError, match="proprio needs"):
        proprio.proprio_vector(np.zeros((2, 3)), np.zeros(2))


@pytest.mark.parametrize("cls", [LateFusionQ, EarlyFusionQ, PairFusionQ])
def test_networks_with_proprio_take_it_and_read_the_closure(cls):
    from actionable_models.learning.networks import VectorLateFusionQ

    torch.manual_seed(0)
    q = cls(LearnerConfig(**SMALL, use_proprio=True))
    obs = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    actions = torch.rand(2, 7, 6) * 2 - 1
    open_, closed = torch.zeros(2, 5), torch.zeros(2, 5)
    open_[:, 4], closed[:, 4] = -1.0, 1.0  # closure 0 and 1, the pose the same
    logits = q(obs, obs, actions, open_)
    assert logits.shape == (2, 7)
    assert not torch.allclose(logits, q(obs, obs, actions, closed))  # Q depends on the closure input
    with pytest.raises(ValueError, match="needs the observation's proprio"):
        q(obs, obs, actions)
    with pytest.raises(ValueError, match=r"proprio must be \(2, 5\)"):
        q(obs, obs, actions, torch.zeros(2, 4))
    plain = cls(LearnerConfig(**SMALL))
    assert plain.proprio is None and q.proprio is not None
    with pytest.raises(ValueError, match="built without use_proprio"):
        plain(obs, obs, actions, open_)
    with pytest.raises(ConfigError, match="use_proprio"):
        VectorLateFusionQ(LearnerConfig(**SMALL, use_proprio=True), 5)


def test_a_network_without_proprio_initialises_as_before():
    """The proprio modules are built last: without use_proprio, the same seed gives the same weights and
    parameter names as a network that never had the option."""
    torch.manual_seed(0)
    plain = LateFusionQ(LearnerConfig(**SMALL))
    torch.manual_seed(0)
    with_proprio = LateFusionQ(LearnerConfig(**SMALL, use_proprio=True))
    assert not any(name.startswith("proprio") for name in plain.state_dict())
    assert torch.equal(plain.encoder.convs[0][0].weight, with_proprio.encoder.convs[0][0].weight)
    assert with_proprio.fuse[0].in_features == plain.fuse[0].in_features + 64


@pytest.mark.parametrize("fusion", ["late", "early", "pair"])
def test_update_with_proprio_learns_through_the_proprio_encoder(fusion):
    data = proprio_transitions()
    objective, config = _objective(learning_rate=1e-3, use_proprio=True, fusion=fusion)
    sampler = GoalSampler(data, config, np.random.default_rng(0))
    arrays = sampler.sample(8).arrays(data)
    assert arrays["proprio"].shape == (8, 5) and arrays["next_proprio"].shape == (8, 5)
    assert "goal_proprio" not in arrays  # a goal is an image only
    before = [p.detach().clone() for p in objective.q.proprio.parameters()]
    metrics = objective.update(to_tensors(arrays))
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, objective.q.proprio.parameters()))
    without = to_tensors(sampler.sample(8).arrays(data))
    del without["next_proprio"]
    with pytest.raises(ValueError, match="no 'next_proprio'"):
        objective.update(without)
    with pytest.raises(ConfigError, match="hold no proprio"):
        GoalSampler(tiny_transitions(), config, np.random.default_rng(0))


def test_targets_use_the_next_states_proprio():
    objective, _ = _objective(use_proprio=True)
    obs = torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)
    open_, closed = torch.zeros(4, 5), torch.zeros(4, 5)
    open_[:, 4], closed[:, 4] = -1.0, 1.0
    values = []
    for next_proprio in (open_, closed):
        objective.generator.manual_seed(0)  # the same CEM draws
        values.append(objective.max_next_q(obs, obs, next_proprio=next_proprio))
    assert not torch.allclose(values[0], values[1])
    batch = {"next_obs": obs, "goal": obs, "reached": torch.zeros(4, dtype=torch.bool),
             "chained": torch.zeros(4, dtype=torch.bool), "next_proprio": closed}
    objective.generator.manual_seed(0)
    assert torch.allclose(objective.data_targets(batch), objective.config.gamma * values[1])


def test_diagnostics_feed_the_observations_proprio():
    from actionable_models.learning.diagnostics import diagnose

    data = proprio_transitions(episodes=3, length=8)
    config = LearnerConfig(**SMALL, use_proprio=True)
    torch.manual_seed(0)
    rows = diagnose(make_q_network(config), config, data, distances=(1, 2), samples=6, negatives=4)
    assert [r.k for r in rows] == [1, 2] and all(0 <= r.q_data <= 1 for r in rows)
    with pytest.raises(ConfigError, match="hold none"):
        diagnose(make_q_network(config), config, tiny_transitions(length=8), distances=(1,), samples=4)


def test_cem_can_start_from_a_given_distribution():
    start = torch.tensor([0.7, -0.4, 0.2, 0.0, 1.0, -1.0])
    flat = lambda a: torch.zeros(a.shape[:2])  # every action scores the same: the best is the first sampled
    action, _ = cem_maximize(flat, 2, 6, 1, 32, 4, generator=torch.Generator().manual_seed(0),
                             init_mean=start, init_std=torch.full((6,), 1e-4))
    assert torch.allclose(action, start.expand(2, 6), atol=1e-3)


def test_uniform_relabeled_goals_reach_the_episode_end():
    data = tiny_transitions(episodes=4, length=30)
    near = GoalSampler(data, LearnerConfig(**SMALL, use_chaining=False), np.random.default_rng(0)).sample(2000)
    far = GoalSampler(data, LearnerConfig(**SMALL, use_chaining=False, relabel_uniform_fraction=1.0),
                      np.random.default_rng(0)).sample(2000)
    k_near, k_far = near.goal_index - near.index, far.goal_index - far.index
    assert np.all(k_far >= 1) and np.all(far.goal_index <= data.episode_end[far.index])
    assert k_near.mean() < 4.0 < 6.0 < k_far.mean()  # Geometric(0.3): 3.3; uniform over the rest: about 8
    assert (k_far >= 20).mean() > 0.05 > (k_near >= 20).mean()


def test_n_step_rows_bootstrap_n_frames_on_or_take_the_datas_exact_value():
    data = tiny_transitions(episodes=4, length=30)
    config = LearnerConfig(**SMALL, n_step=4, relabel_uniform_fraction=0.5, chain_fraction=0.25)
    batch = GoalSampler(data, config, np.random.default_rng(0)).sample(400)
    arrays = batch.arrays(data)
    k, steps = batch.goal_index - batch.index, arrays["bootstrap_steps"]
    far = ~batch.chained & (k > 4)
    assert far.any() and (~far).any()
    assert np.all(steps[far] == 4) and np.all(steps[~far] == 1)  # chained and near rows: one step on
    assert np.array_equal(arrays["next_obs"], data.observations[batch.index + steps])
    assert np.all(data.episode[batch.index + steps] == data.episode[batch.index])  # inside the episode
    one = GoalSampler(data, LearnerConfig(**SMALL), np.random.default_rng(0)).sample(50).arrays(data)
    assert np.all(one["bootstrap_steps"] == 1)

    objective, _ = _objective(gamma=0.9, n_step=4)
    seen = {}

    def fake(next_obs, goal, next_action=None, logged_only=None, needed=None):
        seen["needed"] = needed
        return torch.full((4,), 0.5)

    objective.max_next_q = fake
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    targets = objective.data_targets({
        "next_obs": images, "goal": images, "reached": torch.tensor([True, False, False, False]),
        "chained": torch.tensor([False, False, False, True]), "steps_to_goal": torch.tensor([1, 3, 9, 2]),
        "bootstrap_steps": torch.tensor([1, 1, 4, 1])})
    # k = 1: reward 1; k = 3 <= n: the data's own gamma^2; k = 9: gamma^4 max Q 4 frames on; chained: gamma max Q
    assert targets.tolist() == pytest.approx([1.0, 0.81, 0.9 ** 4 * 0.5, 0.45])
    assert seen["needed"].tolist() == [False, False, True, True]  # no CEM max where the target is exact
    with pytest.raises(ConfigError, match="n_step"):
        LearnerConfig(n_step=0)


def test_cem_like_negative_candidates_crowd_where_cem_searches():
    uniform, _ = _objective(negative_candidates=64)
    like_cem, _ = _objective(negative_candidates=64, negative_cem_fraction=1.0)
    data_action = torch.zeros(256, 6)
    near_zero = lambda cand: (cand[..., :4].abs() < 0.3).all(-1).float().mean().item()
    # uniform in the 4-D motion box: 0.3^4 = 0.8 % near zero motion; N(0, 0.5^2): 0.45^4 = 4 %
    assert near_zero(uniform.negative_candidates(data_action)) < 0.02 < near_zero(like_cem.negative_candidates(data_action))
    half, _ = _objective(negative_candidates=64, negative_cem_fraction=0.5)
    assert half.negative_candidates(data_action).shape == (256, 64, 6)


def test_negative_cem_search_adds_the_online_argmax_to_the_candidates():
    objective, config = _objective(negative_cem_search=True)
    obs = torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)
    seen = []
    pick = lambda cand, logits: seen.append(cand.shape) or cand[:, :config.num_negatives]
    objective.forward_module(obs, obs, torch.zeros(4, 6), objective.negative_candidates(torch.zeros(4, 6)), pick,
                             None, objective.cem_candidates)
    assert seen == [torch.Size([4, config.negative_candidates + 1, 6])]
    assert np.isfinite(list(objective.update(to_tensors(GoalSampler(tiny_transitions(), config,
                                                         np.random.default_rng(0)).sample(8).arrays(tiny_transitions())))
                            .values())).all()


def test_relabeled_rows_can_bootstrap_from_the_logged_next_action():
    objective, _ = _objective(relabel_bootstrap="logged")
    seen = {}

    def fake(next_obs, goal, next_action=None, logged_only=None, needed=None):
        seen["logged_only"] = logged_only
        return torch.full((3,), 0.5)

    objective.max_next_q = fake
    images = torch.zeros(3, 3, 16, 16, dtype=torch.uint8)
    objective.data_targets({"next_obs": images, "goal": images, "reached": torch.tensor([False, False, False]),
                            "chained": torch.tensor([False, True, False]),
                            "next_is_last": torch.tensor([False, False, True])})
    assert seen["logged_only"].tolist() == [True, True, False]  # the max only at an episode's last frame
    with pytest.raises(ConfigError, match="chain_bootstrap"):
        LearnerConfig(relabel_bootstrap="logged", chain_bootstrap="max")


def test_clipped_double_q_takes_the_smaller_target_and_lags_the_target():
    objective, _ = _objective(clipped_double_q=True)
    plain, _ = _objective()
    obs = torch.randint(0, 255, (6, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        for p in objective.q_lagged.parameters():
            p.add_(0.3 * torch.randn_like(p))
    objective.generator.manual_seed(0)
    plain.generator.manual_seed(0)
    clipped, unclipped = objective.max_next_q(obs, obs, torch.zeros(6, 6)), plain.max_next_q(obs, obs, torch.zeros(6, 6))
    assert torch.all(clipped <= unclipped + 1e-6) and torch.any(clipped < unclipped - 1e-4)
    before = [p.clone() for p in objective.q_lagged.parameters()]
    batch = GoalSampler(tiny_transitions(), objective.config, np.random.default_rng(0)).sample(8)
    objective.update(to_tensors(batch.arrays(tiny_transitions())))
    moved = [(p - b).abs().max().item() for p, b in zip(objective.q_lagged.parameters(), before)]
    assert max(moved) > 0  # it follows the target network


def _random_shift_by_padding(images, pad, generator):
    """The reference: replicate-pad as float, crop at the same random offsets."""
    import torch.nn.functional as F
    b, _, h, w = images.shape
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).long()
    cols = (dx[:, None] + torch.arange(w)[None]).long()
    out = padded[torch.arange(b)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).to(images.dtype)


def test_random_shift_equals_replicate_padding_and_cropping():
    images = torch.randint(0, 255, (9, 3, 16, 12), dtype=torch.uint8)
    for pad in (1, 4):
        fast = random_shift(images, pad, torch.Generator().manual_seed(3))
        assert fast.dtype == torch.uint8 and torch.equal(fast, _random_shift_by_padding(images, pad, torch.Generator().manual_seed(3)))


def test_the_targets_cem_can_search_near_the_logged_next_action():
    class Away(torch.nn.Module):  # the farther from the logged action (all 0.5), the higher
        def embed(self, obs, goal):
            return torch.zeros(obs.shape[0], 1)

        def score(self, embedding, actions):
            return (actions[..., :4] - 0.5).abs().sum(-1)

    obs = torch.zeros(3, 3, 16, 16, dtype=torch.uint8)
    logged = torch.full((3, 6), 0.5)
    values = {}
    for std in (0.0, 1e-4):
        objective, _ = _objective(target_cem_std=std, cem_iterations=1)
        objective.q_target = Away()
        values[std] = objective.max_next_q(obs, obs, logged)
    assert torch.all(values[0.0] > 0.8)  # the usual search finds the far actions this Q rates highly
    assert torch.allclose(values[1e-4], torch.full((3,), 0.5), atol=1e-2)  # near the logged action: logit ~0


def test_relative_target_weight_trains_and_is_checked():
    objective, config = _objective(relative_target_weight=0.05)
    data = tiny_transitions()
    metrics = objective.update(to_tensors(GoalSampler(data, config, np.random.default_rng(0)).sample(8).arrays(data)))
    assert np.isfinite(metrics["loss/total"])
    with pytest.raises(ConfigError, match="relative_target_weight"):
        LearnerConfig(relative_target_weight=1.5)


def test_an_update_without_metrics_reads_nothing_back_and_learns_the_same():
    data = tiny_transitions()
    weights, returned = [], []
    for with_metrics in (True, False):
        objective, config = _objective()
        sampler = GoalSampler(data, config, np.random.default_rng(0))
        for _ in range(3):
            returned.append(objective.update(to_tensors(sampler.sample(8).arrays(data)), with_metrics=with_metrics))
        weights.append(objective.q.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert returned[-1] == {} and set(returned[0]) >= {"loss/total", "loss/data", "q/mean_data", "loss/negative"}


def test_a_config_from_before_a_field_loads_with_the_behaviour_it_was_trained_with():
    from actionable_models.learning.checkpoint import LEGACY_FIELDS, learner_config_from_json

    old = {k: v for k, v in dataclasses.asdict(LearnerConfig()).items() if k not in LEGACY_FIELDS}
    config = learner_config_from_json(json.dumps(old))
    assert not config.binary_gripper_terminate and config.binary_dims == ()  # CEM did not snap on/off commands
    assert config.chain_bootstrap == "max" and not config.use_proprio
    assert learner_config_from_json(json.dumps(dataclasses.asdict(LearnerConfig()))) == LearnerConfig()


def test_spatial_softmax_keypoints_sit_where_the_feature_is():
    """Each keypoint is its map's expected (x, y) in [-1, 1]: a single peaked position gives that position,
    and shifting the peak moves the keypoint by the shift."""
    from actionable_models.learning.networks import SpatialSoftmax

    kp = SpatialSoftmax(1, 1)
    with torch.no_grad():
        kp.project.weight.fill_(1.0)
        kp.project.bias.zero_()
        kp.log_temperature.fill_(math.log(0.01))  # sharp: the softmax is the peak alone
    features = torch.zeros(2, 1, 5, 9)
    features[0, 0, 1, 2] = 1.0  # row 1 of 5, column 2 of 9
    features[1, 0, 4, 8] = 1.0  # the bottom-right corner
    points = kp(features)
    np.testing.assert_allclose(points.detach().numpy(), [[-0.5, -0.5], [1.0, 1.0]], atol=1e-4)


def test_image_keypoints_join_the_encoder_without_changing_a_network_without_them():
    torch.manual_seed(0)
    plain = LateFusionQ(LearnerConfig(**SMALL))
    torch.manual_seed(0)
    with_kp = LateFusionQ(LearnerConfig(**SMALL, image_keypoints=8))
    assert not any("keypoints" in name for name in plain.state_dict())
    assert torch.equal(plain.encoder.convs[0][0].weight, with_kp.encoder.convs[0][0].weight)
    assert with_kp.encoder.out[1].in_features == plain.encoder.out[1].in_features + 16
    images = torch.randint(0, 256, (3, 3, SMALL["image_size"], SMALL["image_size"]), dtype=torch.uint8)
    logits = with_kp(images, images, torch.zeros(3, 2, 6))
    logits.sum().backward()
    assert logits.shape == (3, 2) and with_kp.encoder.keypoints.project.weight.grad.abs().sum() > 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="image_keypoints"):
            LearnerConfig(image_keypoints=bad)
    with pytest.raises(ConfigError, match="pair-fusion image encoder"):
        LearnerConfig(image_keypoints=4, fusion="early")


def test_pair_fusion_stacks_the_images_and_shifts_them_as_one():
    """Pair fusion: one encoder over the 6-channel (observation, goal) stack, so swapping the two changes Q;
    in an update the observation, goal and next observation get the same random shift (pixels aligned)."""
    torch.manual_seed(0)
    q = PairFusionQ(LearnerConfig(**SMALL, fusion="pair"))
    assert q.encoder.convs[0][0].weight.shape[1] == 6
    a, b = (torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8) for _ in range(2))
    actions = torch.rand(2, 5, 6) * 2 - 1
    assert q(a, b, actions).shape == (2, 5) and not torch.allclose(q(a, b, actions), q(b, a, actions))
    data = tiny_transitions()
    objective, config = _objective(fusion="pair", augment_pad=2)
    arrays = GoalSampler(data, config, np.random.default_rng(0)).sample(8).arrays(data)
    for key in ("goal", "next_obs"):
        arrays[key] = arrays["obs"].copy()
    seen = []
    embed = objective.q.embed
    objective.q.embed = lambda obs, goal, proprio=None: seen.append((obs, goal)) or embed(obs, goal, proprio)
    objective.update(to_tensors(arrays))
    obs, goal = seen[0]
    assert torch.equal(obs, goal) and not torch.equal(obs, to_tensors(arrays)["obs"])  # shifted, and alike
