"""Training batches from per-step episode arrays: hindsight-relabeled goals and chained goals.

Works on any observation array (images (N, S, S, 3) uint8 or state vectors (N, F)), so the same
sampler feeds the image learner and small non-image test worlds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionable_models.errors import ConfigError
from actionable_models.learning.config import LearnerConfig


@dataclass
class Transitions:
    """What the sampler needs: per-step observations, actions, episode ids and last-step flags."""

    observations: np.ndarray  # (N, ...) images (N, S, S, 3) uint8 or vectors (N, F)
    actions: np.ndarray  # (N, A) float32, the action taken at each step
    episode: np.ndarray  # (N,) int
    is_last: np.ndarray  # (N,) bool: no transition leaves this step
    scene: np.ndarray | None = None  # (N,) int: episodes recorded in one scene share an id; None: one scene
    proprio: np.ndarray | None = None  # (N, 5) float32 scaled measured pose and closure (learning/proprio.py)

    def __post_init__(self) -> None:
        n = len(self.observations)
        if not (len(self.actions) == len(self.episode) == len(self.is_last) == n):
            raise ValueError("observations, actions, episode and is_last must have the same length")
        if self.scene is not None and len(self.scene) != n:
            raise ValueError("scene must have one id per step, like episode")
        if self.proprio is not None and (len(self.proprio) != n or np.ndim(self.proprio) != 2):
            raise ValueError(f"proprio must be (N, F) with one row per step, got {np.shape(self.proprio)} for "
                             f"{n} steps")
        if n == 0 or not np.any(~np.asarray(self.is_last)):
            raise ValueError("the dataset holds no transitions (every step is an episode's last)")
        self.episode = np.asarray(self.episode)
        self.is_last = np.asarray(self.is_last, dtype=bool)
        # last index of the episode each step belongs to (episodes are contiguous)
        ends = np.flatnonzero(np.r_[self.episode[1:] != self.episode[:-1], True])
        lengths = np.diff(np.r_[-1, ends])
        self.episode_end = np.repeat(ends, lengths)
        self.starts = np.r_[0, ends[:-1] + 1]
        self.episode_start = np.repeat(self.starts, lengths)

    @property
    def num_episodes(self) -> int:
        return len(self.starts)


@dataclass
class SampledBatch:
    """Indices and flags of one batch; ``arrays`` gathers the data."""

    index: np.ndarray  # (B,) step t
    goal_index: np.ndarray  # (B,) the frame that is the goal
    reached: np.ndarray  # (B,) bool: s_{t+1} is the goal frame (relabeled, k = 1): reward 1
    chained: np.ndarray  # (B,) bool: goal from another episode: bootstrapped, never rewarded
    next_index: np.ndarray | None = None  # (B,) the frame targets bootstrap from (n_step); None: index + 1

    def arrays(self, data: Transitions) -> dict[str, np.ndarray]:
        """obs, action, next_obs, goal, reached, chained as numpy arrays; with ``data.proprio`` also proprio
        and next_proprio (of s and s'; a goal has none). s' (``next_*``) is the frame targets bootstrap
        from: t + 1, or t + n_step on relabeled rows (``bootstrap_steps`` says how far)."""
        following = self.index + 1 if self.next_index is None else self.next_index
        out = {"obs": data.observations[self.index], "action": data.actions[self.index],
               "next_obs": data.observations[following], "next_action": data.actions[following],
               "goal": data.observations[self.goal_index],
               "reached": self.reached, "chained": self.chained, "next_is_last": data.is_last[following],
               "steps_to_goal": (self.goal_index - self.index).astype(np.int64),
               "bootstrap_steps": (following - self.index).astype(np.int64)}
        if data.proprio is not None:
            out["proprio"] = data.proprio[self.index]
            out["next_proprio"] = data.proprio[following]
        return out


def uniform_future_steps(rest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """k uniform over 1..rest per row: how far ahead a goal drawn uniformly from a step's later frames is
    (``rest``: the frames after the step in its episode, >= 1)."""
    return 1 + (rng.random(len(rest)) * rest).astype(np.int64)


class GoalSampler:
    """Uniform transitions; goals k ~ Geometric(p) frames ahead in the same episode, or from another one."""

    def __init__(self, data: Transitions, config: LearnerConfig, rng: np.random.Generator,
                 episodes: np.ndarray | None = None) -> None:
        """``episodes``: the episode ids this sampler draws transitions from (a rank's shard); default all."""
        if config.use_proprio and data.proprio is None:
            raise ConfigError("use_proprio is set but the transitions hold no proprio (Transitions.proprio: "
                              "the measured pose and gripper closure of every step)")
        self.data = data
        self.config = config
        self.rng = rng
        own = ~data.is_last if episodes is None else ~data.is_last & np.isin(data.episode, episodes)
        self.valid = np.flatnonzero(own)
        if len(self.valid) == 0:
            raise ValueError(f"no transitions in episodes {episodes}")
        # Chained goals come from the frames of the step's scene (the whole data under chain_scope 'dataset'
        # or without scene ids): the frames grouped by scene, in step order, and where each step's scene
        # block starts, how long it is, and where each episode starts within its block.
        n = len(data.observations)
        by_scene = config.chain_scope == "scene" and data.scene is not None
        scene = np.asarray(data.scene) if by_scene else np.zeros(n, dtype=np.int64)
        self._scene_order = np.argsort(scene, kind="stable")
        grouped = scene[self._scene_order]
        self._scene_first = np.searchsorted(grouped, scene, side="left")
        self._scene_size = np.searchsorted(grouped, scene, side="right") - self._scene_first
        position = np.empty(n, dtype=np.int64)
        position[self._scene_order] = np.arange(n) - self._scene_first[self._scene_order]
        self._episode_position = position[data.episode_start]

    def sample(self, batch_size: int) -> SampledBatch:
        """One batch; the first ``chain_fraction`` of it chained when chaining is on and possible."""
        d, rng = self.data, self.rng
        index = rng.choice(self.valid, size=batch_size)
        k = rng.geometric(self.config.relabel_future_p, size=batch_size)
        if self.config.relabel_uniform_fraction > 0.0:
            # Goals anywhere later in the episode, as far as evaluation goals are (20-25 steps for container
            # placing), which Geometric(0.3) reaches once in a thousand draws.
            uniform = rng.random(batch_size) < self.config.relabel_uniform_fraction
            k = np.where(uniform, uniform_future_steps(d.episode_end[index] - index, rng), k)
        goal_index = np.minimum(index + k, d.episode_end[index])
        chained = np.zeros(batch_size, dtype=bool)
        use_chaining = self.config.method == "actionable_models" and self.config.use_chaining
        if use_chaining and d.num_episodes > 1:
            rows = np.arange(int(round(self.config.chain_fraction * batch_size)))
            own_start, own_end = d.episode_start[index[rows]], d.episode_end[index[rows]]
            span = own_end - own_start + 1
            # A uniform frame of every other episode of the same scene: draw over the scene's frames less
            # this episode's, then step over this episode (its frames are contiguous among the scene's).
            step = index[rows]
            rest = self._scene_size[step] - span
            other = (rng.random(len(rows)) * np.maximum(rest, 0)).astype(np.int64)
            position = np.where(other < self._episode_position[step], other, other + span)
            ok = rest > 0  # the only episode of its scene keeps its relabeled goal
            goal_index[rows[ok]] = self._scene_order[self._scene_first[step[ok]] + position[ok]]
            chained[rows[ok]] = True
        past_rows = int(round(self.config.past_goal_fraction * batch_size))
        if use_chaining and past_rows:
            # Goals from earlier in the step's own episode: the same scene, a few things different, and a
            # state the data left rather than reached; bootstrapped like chained goals, never rewarded.
            first = int(round(self.config.chain_fraction * batch_size))
            rows = np.arange(first, min(first + past_rows, batch_size))
            before = index[rows] - d.episode_start[index[rows]]
            ok = before > 0
            earlier = d.episode_start[index[rows]] + (rng.random(len(rows)) * before).astype(np.int64)
            goal_index[rows[ok]] = earlier[ok]
            chained[rows[ok]] = True
        reached = (goal_index == index + 1) & ~chained
        if self.config.n_step == 1:
            return SampledBatch(index, goal_index, reached, chained)
        # n steps on along the logged path where the goal is further than that (so inside the episode);
        # one step on chained rows and where the data reaches the goal sooner (the target is then exact).
        far = ~chained & (goal_index - index > self.config.n_step)
        return SampledBatch(index, goal_index, reached, chained, np.where(far, index + self.config.n_step, index + 1))
