"""Diagnostics of a goal-conditioned Q-function on held-out episodes, before any rollout.

For transitions (s, a, s') of held-out episodes with relabeled goals k steps ahead (the goal is frame t + k
of the same episode), ``diagnose`` measures what a working Q-function must show:

- mean Q(s, a_data, g) against k: it should fall roughly like gamma^(k-1);
- how often the data action outranks uniform negatives (and CEM's own samples) for the same (s, g);
- how much Q drops when the goal is swapped for a frame of another episode;
- how close the CEM argmax comes to the data action (translation direction and gripper sign).

Works on any network with ``embed(obs, goal)`` and ``score(embedding, actions)`` (image or state); with
``use_proprio`` the observation's proprio (``data.proprio``) goes in beside it, the goal's never.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from actionable_models.actions import GRIPPER, TRANSLATION
from actionable_models.learning.cem import cem_maximize, snap_binary
from actionable_models.errors import ConfigError
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import embed
from actionable_models.learning.objective import to_tensor
from actionable_models.learning.sampler import Transitions

DEFAULT_DISTANCES = (1, 2, 4, 8, 16)


@dataclass
class DistanceRow:
    """The diagnostics at one goal distance k."""

    k: int
    samples: int
    q_data: float  # mean Q of the data action toward the relabeled goal
    gamma_k: float  # gamma^(k-1), what a perfect Q of the data's own path would give at most
    outranks_negatives: float  # share of (sample, negative) pairs where the data action scores higher
    outranks_cem: float  # share of CEM samples the data action scores above
    q_swapped: float  # mean Q of the same (s, a) with another episode's frame as the goal
    cem_direction_cos: float  # mean cosine between the CEM argmax's and the data's translation
    cem_gripper_agrees: float  # share where the CEM argmax's gripper sign equals the data's


@torch.no_grad()
def diagnose(q: nn.Module, learner: LearnerConfig, data: Transitions, distances=DEFAULT_DISTANCES,
             samples: int = 256, negatives: int = 16, seed: int = 0,
             device: torch.device | str = "cpu") -> list[DistanceRow]:
    """One row per goal distance k (only rows with at least one transition k steps before an episode's end)."""
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    q = q.to(device).eval()
    if learner.use_proprio and data.proprio is None:
        raise ConfigError("the Q-function uses proprio (use_proprio) but the transitions hold none")
    sig = torch.sigmoid
    rows = []
    for k in distances:
        valid = np.flatnonzero(np.arange(len(data.observations)) + k <= data.episode_end)
        valid = valid[~data.is_last[valid]]
        if len(valid) == 0:
            continue
        index = rng.choice(valid, size=min(samples, len(valid)), replace=False)
        n = len(index)
        obs = to_tensor(data.observations[index], device)
        goal = to_tensor(data.observations[index + k], device)
        action = torch.as_tensor(data.actions[index], device=device).float()
        # another episode's frame, uniformly (as goal chaining draws them)
        other = rng.integers(0, len(data.observations), size=n)
        same = data.episode[other] == data.episode[index]
        while same.any():
            other[same] = rng.integers(0, len(data.observations), size=int(same.sum()))
            same = data.episode[other] == data.episode[index]
        swapped = to_tensor(data.observations[other], device)
        proprio = torch.as_tensor(data.proprio[index], device=device).float() if learner.use_proprio else None

        embedding = embed(q, obs, goal, proprio)
        logit_data = q.score(embedding, action.unsqueeze(1))  # (n, 1)
        uniform = torch.rand(n, negatives, learner.action_dim, generator=generator) * 2 - 1
        cem_action, _ = cem_maximize(lambda a: q.score(embedding, a), n, learner.action_dim,
                                     learner.cem_iterations, learner.cem_samples, learner.cem_elites,
                                     generator=generator, device=device, binary_dims=learner.binary_dims,
                                     init_std=learner.cem_init_std)
        cem_samples = (torch.randn(n, learner.cem_samples, learner.action_dim, generator=generator)
                       * learner.cem_init_std).clamp(-1, 1)
        uniform, cem_samples = (snap_binary(a, learner.binary_dims).to(device) for a in (uniform, cem_samples))
        logit_neg = q.score(embedding, uniform)
        logit_cem = q.score(embedding, cem_samples)
        logit_swapped = q.score(embed(q, obs, swapped, proprio), action.unsqueeze(1))
        data_t, cem_t = action[:, TRANSLATION], cem_action[:, TRANSLATION]
        cos = (data_t * cem_t).sum(-1) / (data_t.norm(dim=-1) * cem_t.norm(dim=-1)).clamp_min(1e-6)
        rows.append(DistanceRow(
            k=k, samples=n, q_data=float(sig(logit_data).mean()), gamma_k=learner.gamma ** (k - 1),
            outranks_negatives=float((logit_data > logit_neg).float().mean()),
            outranks_cem=float((logit_data > logit_cem).float().mean()),
            q_swapped=float(sig(logit_swapped).mean()),
            cem_direction_cos=float(cos.mean()),
            cem_gripper_agrees=float((torch.sign(cem_action[:, GRIPPER]) == torch.sign(action[:, GRIPPER]))
                                     .float().mean())))
    return rows


def format_rows(rows: list[DistanceRow]) -> str:
    """A Markdown table of the rows."""
    lines = ["| k | n | Q(data) | gamma^(k-1) | Q(swapped goal) | beats negatives | beats CEM samples | "
             "CEM dir. cos | CEM gripper agrees |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.k} | {r.samples} | {r.q_data:.3f} | {r.gamma_k:.3f} | {r.q_swapped:.3f} | "
                     f"{r.outranks_negatives:.2f} | {r.outranks_cem:.2f} | {r.cem_direction_cos:.2f} | "
                     f"{r.cem_gripper_agrees:.2f} |")
    return "\n".join(lines) + "\n"


def plot_rows(rows: list[DistanceRow], png, title: str = "") -> None:
    """Two panels against the goal distance k: Q values (data, swapped goal, gamma^(k-1)), and the
    ranking and agreement shares. Written to ``png`` with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = [r.k for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    left.plot(k, [r.q_data for r in rows], "o-", label="Q(s, a_data, g): goal k steps ahead")
    left.plot(k, [r.q_swapped for r in rows], "s-", label="Q with another episode's frame as goal")
    left.plot(k, [r.gamma_k for r in rows], "k--", label=r"$\gamma^{k-1}$ (the data's own path)")
    left.set(xscale="log", xlabel="steps k to the relabeled goal", ylabel="Q (probability)", ylim=(0, 1.02),
             title="Q against goal distance")
    left.set_xticks(k, [str(v) for v in k])
    left.legend(fontsize=8)
    right.plot(k, [r.outranks_negatives for r in rows], "o-", label="data action beats uniform negatives")
    right.plot(k, [r.outranks_cem for r in rows], "s-", label="data action beats CEM samples")
    right.plot(k, [r.cem_direction_cos for r in rows], "^-", label="CEM argmax: cosine to data translation")
    right.plot(k, [r.cem_gripper_agrees for r in rows], "v-", label="CEM argmax: same gripper command")
    right.set(xscale="log", xlabel="steps k to the relabeled goal", ylabel="share / cosine", ylim=(-0.2, 1.02),
              title="ranking and argmax agreement")
    right.set_xticks(k, [str(v) for v in k])
    right.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.savefig(png, dpi=100)
    plt.close(fig)
