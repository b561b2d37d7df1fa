"""The learner end to end on small non-image worlds: goal chaining and artificial negatives each make a
difference a test can see, and switching either off undoes it.

Both tests train the real pieces (GoalSampler, ActionableModelsObjective, VectorLateFusionQ, CEM) on
one-hot states for a fixed budget and seed, once with the term on and once off, everything else equal.
"""

import numpy as np
import pytest
import torch

from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import VectorLateFusionQ
from actionable_models.learning.objective import ActionableModelsObjective, to_tensors
from actionable_models.learning.sampler import GoalSampler, Transitions
from actionable_models.learning.toy_worlds import GridWorld, action_of, move_samples


@pytest.fixture(autouse=True)
def one_thread():
    # tiny networks: intra-op threads only add overhead, and on a busy machine a lot of it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(data: Transitions, config: LearnerConfig, state_dim: int, steps: int) -> ActionableModelsObjective:
    torch.manual_seed(config.seed)
    objective = ActionableModelsObjective(VectorLateFusionQ(config, state_dim), config)
    sampler = GoalSampler(data, config, np.random.default_rng(config.seed))
    for _ in range(steps):
        objective.update(to_tensors(sampler.sample(config.batch_size).arrays(data)))
    return objective


# ----------------------------------------------------------------------------------------- goal chaining
# B . C      A -> B: up (one step); B -> C: right, right (then stay at C); A -> X: right, into a pit.
# A X #      No episode goes from A to C. Reaching C from A takes up at A, which is never a good move
#            for goal C in the data: every state seen with goal C (B, the cell after it, C) moves right
#            or stays, and their negatives push up down. Goal C says 'right', and right at A is a data
#            move (toward the pit), so without chaining Q(A, up, C) stays ~0 and the policy walks into
#            the pit. Chaining gives A goal C (bootstrapped from Q(B, right, C), which the B -> C data
#            learns) and the pit goal C (bootstrapped from the pit itself, where uniform actions all
#            stay, so the negatives pull every action down): up ~ gamma^2, the pit ~ 0.
CHAIN_MAP = ["B.C",
             "AX#"]
CHAIN_EPISODES = [("A", ["up"]), ("B", ["right", "right", "stay"]), ("A", ["right", "any", "any"])]
CHAIN_STEPS = 1000
CHAIN_CONFIG = dict(
    action_dim=2,  # only a_x, a_y move: with 4 more, ignored, dims the negatives carve Q into narrow peaks
    # that the targets' CEM misses (max found 0.15 where the data action scores 0.63), and chaining starves
    embed_dim=32, batch_size=128, learning_rate=1e-3, augment_pad=0,
    target_tau=0.05,  # a target that follows within ~20 updates: bootstrapped values settle in the budget
    cem_iterations=2, cem_samples=32, cem_elites=4,
    negative_candidates=32, num_negatives=8,
    negative_temperature=0.1,  # exp(Q / 0.1) aims the negatives at overestimated actions; at the paper's
    # 1.0 the policy still gets to C, but the pit keeps Q(pit, ., C) at 0.4-0.66 in 4 seeds of 6
    use_negatives=True, seed=0)


def test_goal_chaining_reaches_a_goal_no_episode_leads_to_from_the_start():
    world = GridWorld(CHAIN_MAP, action_dim=2)
    rng = np.random.default_rng(0)
    episodes = [world.episode(world[start], moves, rng) for _ in range(4) for start, moves in CHAIN_EPISODES]
    a, b, c, pit = world["A"], world["B"], world["C"], next(iter(world.pits))
    assert not any(a in cells and c in cells for cells, _ in episodes)  # the premise: nothing joins A to C
    data = world.transitions(episodes)
    up, right = action_of("up", 2)[None], action_of("right", 2)[None]
    results = {}
    for use_chaining in (True, False):
        config = LearnerConfig(**CHAIN_CONFIG, use_chaining=use_chaining)
        q = train(data, config, world.state_dim, CHAIN_STEPS).q
        results[use_chaining] = {
            "path": world.rollout(q, a, c, steps=6),
            "q_up": world.q_values(q, a, c, up)[0],  # the first move of the only route A -> B -> C
            "q_pit": world.q_values(q, a, c, right)[0],
            "q_best": world.greedy_action(q, a, c, torch.Generator().manual_seed(0))[1],
            "q_pit_best": world.greedy_action(q, pit, c, torch.Generator().manual_seed(0))[1],
            "q_a_b": world.q_values(q, a, b, up)[0],  # what each half of the data teaches, for both
            "q_b_c": world.q_values(q, b, c, right)[0],
        }
    chained, plain = results[True], results[False]
    # both learners know each half: A -> B and B -> C (relabeled data, no chaining needed)
    for r in (chained, plain):
        assert r["q_a_b"] > 0.5 and r["q_b_c"] > 0.5, results
    # only chaining joins them: from A with goal C the greedy policy goes up, right, right
    assert chained["path"] == [a, b, (1, 1), c], results
    assert chained["q_up"] > 0.3 and chained["q_up"] > chained["q_pit"] + 0.2, results
    assert chained["q_best"] > 0.3, results
    # chaining bootstraps, it never rewards: the pit, which chaining also gives goal C, keeps Q ~ 0 for it
    assert chained["q_pit_best"] < 0.4, results
    # without chaining nothing ever says up at A leads to C: Q stays ~0 there, the policy never gets to C
    assert plain["q_up"] < 0.05, results
    assert b not in plain["path"] and c not in plain["path"], results  # stuck at A or in the pit


# ------------------------------------------------------------------------------------ artificial negatives
# A ledge of 6 cells: a_0 <= 0 steps one cell left, a_0 > 0 falls off into a pit that is never left.
# The data are single steps to the left, a_0 uniform in [-1, 0), the other 5 dims uniform in [-1, 1]:
# every transition reaches its goal (the next cell), so every data target is 1. Actions with a_0 > 0
# never reach that goal (Q* = 0) and appear nowhere in the data.
LEDGE = 6
NEG_STEPS = 300
NEG_CONFIG = dict(embed_dim=32, batch_size=64, learning_rate=1e-3, augment_pad=0, cem_iterations=1,
                  cem_samples=16, cem_elites=4, use_chaining=False, seed=0)  # negatives: the paper's defaults


def ledge_transitions(episodes: int, rng: np.random.Generator) -> Transitions:
    eye = np.eye(LEDGE + 1, dtype=np.float32)  # cells 0..LEDGE-1, the pit last
    start = rng.integers(1, LEDGE, episodes)
    actions = rng.uniform(-1, 1, (episodes, 6)).astype(np.float32)
    actions[:, 0] = rng.uniform(-1, 0, episodes)
    obs = np.stack([eye[start], eye[start - 1]], axis=1).reshape(-1, LEDGE + 1)  # (2E, F): s, then s' = s - 1
    return Transitions(obs, np.stack([actions, np.zeros_like(actions)], axis=1).reshape(-1, 6),
                       np.repeat(np.arange(episodes), 2), np.tile([False, True], episodes))


def test_negatives_keep_unseen_actions_low_and_without_them_q_is_overestimated():
    data = ledge_transitions(64, np.random.default_rng(0))
    eye = torch.eye(LEDGE + 1)
    cells = torch.arange(1, LEDGE)
    actions = torch.as_tensor(np.random.default_rng(1).uniform(-1, 1, (1024, 6)).astype(np.float32))
    unseen = actions[actions[:, 0] > 0.5].expand(len(cells), -1, -1)  # (5, K, 6)
    results = {}
    for use_negatives in (True, False):
        config = LearnerConfig(**NEG_CONFIG, use_negatives=use_negatives)
        objective = train(data, config, LEDGE + 1, NEG_STEPS)
        with torch.no_grad():
            embedding = objective.q.embed(eye[cells], eye[cells - 1])  # goal: the next cell to the left
            q_unseen = torch.sigmoid(objective.q.score(embedding, unseen)).mean().item()
            data_obs, data_goal = torch.as_tensor(data.observations[::2]), torch.as_tensor(data.observations[1::2])
            q_data = torch.sigmoid(objective.q(data_obs, data_goal, torch.as_tensor(data.actions[::2])[:, None]))
            q_data = q_data.mean().item()
        results[use_negatives] = {"q_unseen": q_unseen, "q_data": q_data}
    # with negatives: the data's actions keep most of their value, the unseen ones end near their true 0
    assert results[True]["q_unseen"] < 0.15, results
    assert results[True]["q_data"] > 0.5, results
    # without: every target was 1, and the network extends that to actions it has never seen
    assert results[False]["q_unseen"] > 0.9, results
    assert results[False]["q_unseen"] > results[True]["q_unseen"] + 0.5, results


def test_move_samples_and_actions_make_their_moves():
    rng = np.random.default_rng(0)
    for move in ("stay", "right", "left", "up", "down"):
        for action in [action_of(move, 6, rng, 0.05), *move_samples(move, 2, 50, rng)]:
            world = GridWorld(["...", "...", "..."], action_dim=len(action))
            dx, dy = {"stay": (0, 0), "right": (1, 0), "left": (-1, 0), "up": (0, 1), "down": (0, -1)}[move]
            assert world.step((1, 1), action) == (1 + dx, 1 + dy)
    pit_world = GridWorld(["AX"], action_dim=2)
    assert pit_world.step((0, 0), action_of("right", 2)) == (1, 0)
    assert pit_world.step((1, 0), action_of("left", 2)) == (1, 0)  # a pit is never left
    assert pit_world.step((0, 0), action_of("left", 2)) == (0, 0)  # off the map: stay
