"""An explicit goal-conditioned policy trained by maximum likelihood on relabeled goals: GCBC as the
field runs it (e.g. OGBench's GCBC agent), the baseline beside the Q-function classifier of
``method='gcbc'``.

pi(a | s, g): a Gaussian over the arm's motion components (translation and yaw) with a learned,
state-independent log standard deviation, and a Bernoulli over each on/off component (gripper,
terminate). Goals are future frames of the same episode drawn uniformly (OGBench's actor goals), so
the policy imitates what the data did on its way to where it went. Acting takes the mode: the mean
motion and the likelier on/off value.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actionable_models.learning.networks import add_object_centric_encoder, object_centric_embedding
from actionable_models.learning.sampler import Transitions, uniform_future_steps


class GoalConditionedPolicy(nn.Module):
    """MLP over [state, goal] -> motion mean (motion_dims) and on/off logits (action_dim - motion_dims)."""

    def __init__(self, state_dim: int, action_dim: int = 6, motion_dims: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.motion_dims = motion_dims
        self.body = nn.Sequential(nn.Linear(2 * state_dim, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, action_dim))
        self.log_std = nn.Parameter(torch.zeros(motion_dims))

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(torch.cat([obs.float(), goal.float()], dim=-1))
        return torch.tanh(out[:, :self.motion_dims]), out[:, self.motion_dims:]

    def nll(self, obs: torch.Tensor, goal: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the data actions (B, A), on/off components in {-1, +1}."""
        mean, logits = self(obs, goal)
        std = self.log_std.clamp(-5.0, 2.0).exp()
        motion = action[:, :self.motion_dims]
        gaussian = 0.5 * ((motion - mean) / std) ** 2 + std.log()
        on = (action[:, self.motion_dims:] > 0).float()
        return gaussian.sum(-1).mean() + F.binary_cross_entropy_with_logits(logits, on, reduction="none").sum(-1).mean()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The mode (B, A): the mean motion, each on/off component at +1 where its probability exceeds 0.5."""
        mean, logits = self(obs, goal)
        return torch.cat([mean, torch.where(logits > 0, 1.0, -1.0)], dim=-1)


class ObjectCentricGoalPolicy(GoalConditionedPolicy):
    """The same policy over ObjectCentricVectorQ's state-goal encoding (one encoder shared by every
    object's row), then two hidden layers: GCBC with the input the object-centric Q-function has."""

    def __init__(self, state_dim: int, action_dim: int = 6, motion_dims: int = 4, hidden: int = 256) -> None:
        super().__init__(state_dim, action_dim, motion_dims, hidden)
        add_object_centric_encoder(self, state_dim, hidden)
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, action_dim))

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(object_centric_embedding(self, obs, goal))
        return torch.tanh(out[:, :self.motion_dims]), out[:, self.motion_dims:]


def sample_future_goals(data: Transitions, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Transition indices and goal indices uniform over the frames after each step in its episode."""
    valid = np.flatnonzero(~data.is_last)
    index = rng.choice(valid, size=batch_size)
    end = data.episode_end[index]
    return index, np.minimum(index + uniform_future_steps(end - index, rng), end)
