"""Cross-entropy method over the normalised action box [-1, 1]^A, batched over states."""

from __future__ import annotations

from collections.abc import Callable

import torch


def snap_binary(actions: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``actions`` (..., A) with the on/off components ``dims`` set to -1 or +1 by their sign, in place."""
    if dims:
        dims = list(dims)
        actions[..., dims] = torch.where(actions[..., dims] > 0, 1.0, -1.0)
    return actions


def cem_maximize(score: Callable[[torch.Tensor], torch.Tensor], batch: int, action_dim: int, iterations: int,
                 samples: int, elites: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", binary_dims: tuple[int, ...] = (),
                 init_mean: torch.Tensor | None = None, init_std: torch.Tensor | float | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate argmax_a score(a) per batch row.

    ``score`` maps actions (B, N, A) to values (B, N). Starts from N(0, 0.5^2) clipped to the box (or from
    N(``init_mean``, ``init_std``^2), each (B, A), (A,) or a number, e.g. a behaviour policy's proposal or
    LearnerConfig.cem_init_std), refits mean and std to the elites each iteration. Components in ``binary_dims`` are snapped to -1 or +1 (by
    sign) before scoring: on/off commands such as the gripper and terminate, which the data holds only at
    the box's corners, where clipped Gaussian samples almost never land together. Returns the best action
    seen (B, A) and its score (B,).
    """
    mean = torch.zeros(batch, action_dim, device=device)
    std = torch.full((batch, action_dim), 0.5, device=device)
    if init_mean is not None:
        mean = mean + init_mean.to(device)
    if init_std is not None:
        std = torch.zeros_like(std) + torch.as_tensor(init_std, device=device)
    best_value = torch.full((batch,), -torch.inf, device=device)
    best_action = torch.zeros(batch, action_dim, device=device)
    rows = torch.arange(batch, device=device)
    for _ in range(iterations):
        noise = torch.randn(batch, samples, action_dim, generator=generator).to(device)  # CPU generator
        actions = snap_binary((mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(-1.0, 1.0), binary_dims)
        values = score(actions)  # (B, N)
        top_values, top = values.topk(elites, dim=1)  # (B, E)
        elite_actions = actions[rows.unsqueeze(1), top]  # (B, E, A)
        mean, std = elite_actions.mean(dim=1), elite_actions.std(dim=1).clamp_min(1e-3)
        improved = top_values[:, 0] > best_value
        best_value = torch.where(improved, top_values[:, 0], best_value)
        best_action = torch.where(improved.unsqueeze(1), elite_actions[:, 0], best_action)
    return best_action, best_value
