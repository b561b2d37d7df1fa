"""The Actionable Models objective (Chebotar et al. 2021, Sec. 4-5): one update of Q(s, a, g).

- Relabeled data: goal g = a later frame of the same episode. Target 1 when s' is the goal frame,
  else gamma * max_a' Q_target(s', a', g), the max by CEM.
- Goal chaining: goals from other episodes; always gamma * max_a' Q_target(s', a', g), never a reward.
- Artificial negatives: actions away from the data action, drawn in proportion to exp(Q / T), target 0.
  Half of the candidates differ from the data action in the arm's motion only (same gripper and terminate),
  so ranking them needs the goal (an addition of ours: without it Q learned to ignore the goal, measured).
- Loss: cross-entropy of sigmoid logits against the targets; Polyak-averaged target network.
- ``use_proprio``: the batch's ``proprio`` (of s) goes into the online network beside the image,
  ``next_proprio`` (of s') into the target network's max; the goal has none.
- ``method='gcbc'``: goal-conditioned behaviour cloning in the same network and data path: the data
  action scores 1 and other actions (the same candidates, drawn uniformly) 0: a classifier over actions,
  maximised by the same CEM.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from actionable_models.learning.cem import cem_maximize, snap_binary
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import embed


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """DrQ-style augmentation: replicate-pad (B, C, H, W) images by ``pad`` and crop at a random offset."""
    if pad == 0 or images.dim() != 4:
        return images
    b, c, h, w = images.shape
    device = images.device
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(device)  # CPU generator, any device
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(device)
    # Replicate padding then a crop is a gather at clamped coordinates: no padded float copy, and the
    # gather runs on the images' own dtype (uint8), 4x less memory traffic than float.
    rows = (dy[:, None] + torch.arange(h, device=device)[None] - pad).clamp(0, h - 1)  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=device)[None] - pad).clamp(0, w - 1)  # (B, W)
    flat = (rows[:, :, None] * w + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return images.reshape(b, c, h * w).gather(2, flat).view(b, c, h, w)


def to_tensor(array: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Numpy -> torch; images (B, H, W, 3) become channels-first (B, 3, H, W)."""
    t = torch.as_tensor(np.ascontiguousarray(array), device=device)
    return t.permute(0, 3, 1, 2) if t.dim() == 4 and t.shape[-1] == 3 else t


def to_tensors(arrays: dict[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A numpy batch -> torch, each array by :func:`to_tensor`."""
    return {key: to_tensor(value, device) for key, value in arrays.items()}


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` has fast bfloat16 arithmetic (CPU: oneDNN's AVX-512 BF16 / AMX check)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def autocast_context(precision: str, device: torch.device):
    """The autocast context of a LearnerConfig.precision on ``device`` (a no-op for fp32)."""
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported(device))
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class ActionableModelsObjective:
    """Holds the online and target Q-networks and the optimiser; ``update(batch) -> metrics``."""

    def __init__(self, q_network: nn.Module, config: LearnerConfig, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self.q = q_network.to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        # QT-Opt's clipped double Q: a second target that lags the first; targets take the smaller value.
        self.q_lagged = copy.deepcopy(self.q_target) if config.clipped_double_q else None
        # Fused Adam: one kernel over all parameters instead of a loop of small ops per tensor, the same
        # algorithm (a step of the state learner's optimiser 0.53-0.60 ms against 0.94-1.54 on one CPU
        # core; the whole update 60-61 against 57-60 updates/s, 2026-12-04). Older checkpoints' optimiser
        # states load into it unchanged.
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=config.learning_rate, fused=True)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.forward_module: nn.Module = TrainingForward(self.q)

    def distribute(self) -> None:
        """Wrap the trainable forward in DistributedDataParallel (the process group must be up)."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.forward_module = DistributedDataParallel(self.forward_module, device_ids=device_ids)

    # ------------------------------------------------------------------------------------- targets
    @torch.no_grad()
    def max_next_q(self, next_obs: torch.Tensor, goal: torch.Tensor,
                   next_action: torch.Tensor | None = None, logged_only: torch.Tensor | None = None,
                   needed: torch.Tensor | None = None, next_proprio: torch.Tensor | None = None) -> torch.Tensor:
        """max_a' Q_target(s', a', g) as a probability (B,), by CEM. ``next_proprio``: the proprio of s'
        (with use_proprio).

        The action logged at s' (when given) bounds the max from below: where the data covers only a
        thin slice of the action box, the negatives carve Q into narrow peaks that CEM samples can miss.
        """
        c = self.config
        with record_function("am/target_encoders"):
            embedding = embed(self.q_target, next_obs, goal, next_proprio)
            lagged = None if self.q_lagged is None else embed(self.q_lagged, next_obs, goal, next_proprio)

        def clipped(logit: torch.Tensor, acts: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
            """min of the target and the lagged target at actions (B', A) (clipped_double_q)."""
            if lagged is None:
                return logit
            emb = lagged if rows is None else lagged[rows]
            return torch.minimum(logit, self.q_lagged.score(emb, acts.unsqueeze(1)).squeeze(1).to(logit.dtype))
        # The CEM max only where a target uses it: not on rows bootstrapped from the logged action alone,
        # nor on rows the caller marks as rewarded (``needed``), which cost as much as the rest.
        needed = torch.ones(next_obs.shape[0], dtype=torch.bool, device=embedding.device) if needed is None \
            else needed.to(embedding.device)
        if logged_only is not None:
            needed = needed & ~logged_only
        rows = torch.nonzero(needed).squeeze(1)
        best_logit = torch.full((next_obs.shape[0],), -30.0, device=embedding.device)
        if len(rows):
            with record_function("am/cem_targets"):
                sub = embedding[rows]
                start = {"init_std": c.cem_init_std}
                if c.target_cem_std > 0.0 and next_action is not None:
                    # The max near what the data did next: less room for the actions no data ever rated.
                    std = torch.full((c.action_dim,), 1.0, device=self.device)
                    std[:c.motion_dims] = c.target_cem_std
                    start = {"init_mean": next_action[rows].float(), "init_std": std}
                best_action, found = cem_maximize(lambda acts: self.q_target.score(sub, acts), len(rows),
                                                  c.action_dim, c.cem_iterations, c.cem_samples, c.cem_elites,
                                                  generator=self.generator, device=self.device,
                                                  binary_dims=c.binary_dims, **start)
                found = clipped(found, best_action, rows)
            best_logit = best_logit.index_copy(0, rows, found.to(best_logit.dtype))
        if next_action is not None:
            logged = self.q_target.score(embedding, next_action.float().unsqueeze(1)).squeeze(1)
            logged = clipped(logged, next_action.float())
            best_logit = torch.maximum(best_logit, logged.to(best_logit.dtype))
            if logged_only is not None:  # rows bootstrapped from the logged next action alone
                best_logit = torch.where(logged_only, logged.to(best_logit.dtype), best_logit)
        return torch.sigmoid(best_logit)

    @torch.no_grad()
    def data_targets(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Targets (B,) of the data actions: 1 on reaching steps, else gamma * max Q_target (B,)."""
        reached = batch["reached"].bool()
        if self.config.method == "gcbc":
            return torch.ones_like(reached, dtype=torch.float32)
        logged_only = None
        if self.config.chain_bootstrap == "logged":
            # At an episode's last frame nothing was logged next (only a hold): there the max over actions
            # lets value cross into another episode, which is what chaining is for.
            at_end = batch.get("next_is_last", torch.zeros_like(batch["chained"])).bool()
            logged_only = batch["chained"].bool() & ~at_end
            if self.config.relabel_bootstrap == "logged":
                logged_only = ~at_end
        next_proprio = self._proprio(batch, "next_proprio")  # the proprio of s' (use_proprio), else none
        extra = {} if next_proprio is None else {"next_proprio": next_proprio}
        n_step = self.config.n_step > 1 and "steps_to_goal" in batch
        exact, discount = reached, self.config.gamma
        if n_step:  # relabeled rows whose goal the data reached within n steps: target gamma^(k-1)
            k = batch["steps_to_goal"].to(reached.device)
            exact = reached | (~batch["chained"].bool() & (k <= self.config.n_step))
            discount = self.config.gamma ** batch["bootstrap_steps"].to(reached.device).float()  # s' n steps on
        bootstrap = discount * self.max_next_q(batch["next_obs"], batch["goal"], batch.get("next_action"),
                                               logged_only, needed=~exact, **extra)  # (B,); reached rows target 1
        if n_step:
            bootstrap = torch.where(exact, self.config.gamma ** (k.float() - 1.0), bootstrap)
        if self.config.mc_lower_bound and "steps_to_goal" in batch:
            # The data itself reached the (relabeled) goal k steps on: a discounted value of gamma^(k-1).
            k = batch["steps_to_goal"].to(bootstrap.device).float()
            reached_by_data = torch.where(batch["chained"].bool(), torch.zeros_like(k), self.config.gamma ** (k - 1))
            bootstrap = torch.maximum(bootstrap, reached_by_data.to(bootstrap.dtype))
        return torch.where(reached, torch.ones_like(bootstrap), bootstrap)

    @torch.no_grad()
    def sample_negatives(self, embedding: torch.Tensor, data_action: torch.Tensor) -> torch.Tensor:
        """Negative actions (B, N, A): uniform candidates away from the data action, drawn ~ exp(Q / T)."""
        candidates = self.negative_candidates(data_action)
        return self.pick_negatives(candidates, self.q.score(embedding, candidates), data_action)

    @torch.no_grad()
    def negative_candidates(self, data_action: torch.Tensor) -> torch.Tensor:
        """Candidate actions (B, M, A): uniform in the action box (a ``negative_cem_fraction`` of them with
        motion drawn as CEM's first samples); the first ``negative_motion_fraction`` of them keep the data
        action's non-motion components (gripper, terminate)."""
        c = self.config
        candidates = torch.rand(data_action.shape[0], c.negative_candidates, c.action_dim, generator=self.generator)
        candidates = candidates * 2 - 1
        if c.negative_cem_fraction > 0.0:
            j = torch.arange(c.negative_candidates)
            like_cem = torch.floor((j + 1) * c.negative_cem_fraction) > torch.floor(j * c.negative_cem_fraction)
            gaussian = c.cem_init_std * torch.randn(data_action.shape[0], int(like_cem.sum()), c.motion_dims,
                                                    generator=self.generator)
            candidates[:, like_cem, :c.motion_dims] = gaussian.clamp(-1.0, 1.0)
        candidates = snap_binary(candidates.to(self.device), c.binary_dims)
        motion_only = int(round(c.negative_motion_fraction * c.negative_candidates))
        if motion_only and c.action_dim > c.motion_dims:
            candidates[:, :motion_only, c.motion_dims:] = data_action[:, None, c.motion_dims:].to(candidates.dtype)
        return candidates

    @torch.no_grad()
    def cem_candidates(self, embedding: torch.Tensor) -> torch.Tensor:
        """The online Q's CEM argmax per row (B, 1, A), as the policy searches: a negative candidate."""
        c = self.config
        found, _ = cem_maximize(lambda acts: self.q.score(embedding, acts), embedding.shape[0], c.action_dim,
                                c.cem_iterations, c.cem_samples, c.cem_elites, generator=self.generator,
                                device=self.device, binary_dims=c.binary_dims, init_std=c.cem_init_std)
        return found.unsqueeze(1)

    @torch.no_grad()
    def pick_negatives(self, candidates: torch.Tensor, logits: torch.Tensor, data_action: torch.Tensor) -> torch.Tensor:
        """N of the candidates per row, at least negative_min_distance from the data action, ~ exp(Q / T)."""
        c = self.config
        far = (candidates - data_action.unsqueeze(1)).norm(dim=-1) >= c.negative_min_distance  # (B, M)
        if c.method == "gcbc":
            weights = far.float()
        elif c.negative_scale == "probability":
            weights = torch.exp(torch.sigmoid(logits.float()) / c.negative_temperature) * far
        else:  # negative_scale "logit"
            # exp(logit / T) less each row's max logit (a constant factor of the row): logits / T overflow.
            x = torch.where(far, logits.float(), torch.full_like(logits, -torch.inf, dtype=torch.float32))
            weights = torch.exp((x - x.amax(dim=1, keepdim=True).clamp_min(-1e30)) / c.negative_temperature)
        weights = torch.where(weights.sum(dim=1, keepdim=True) > 0, weights, torch.ones_like(weights))
        # With replacement: draws ~ exp(Q / T) as the paper states, and a near candidate (weight 0) is never
        # drawn even when fewer than num_negatives candidates are far enough.
        pick = torch.multinomial(weights.cpu(), c.num_negatives, replacement=True,  # CPU generator, any device
                                 generator=self.generator).to(self.device)
        return candidates[torch.arange(candidates.shape[0], device=self.device)[:, None], pick]  # (B, N, A)

    def _proprio(self, batch: dict[str, torch.Tensor], key: str) -> torch.Tensor | None:
        """The batch's ``proprio`` or ``next_proprio`` with use_proprio (a clear error when it is missing),
        else None: a network without the input never sees one."""
        if not self.config.use_proprio:
            return None
        if key not in batch:
            raise ValueError(f"use_proprio is set but the batch has no {key!r} (Transitions.proprio)")
        return batch[key].float()

    # -------------------------------------------------------------------------------------- update
    def update(self, batch: dict[str, torch.Tensor], with_metrics: bool = True) -> dict[str, float]:
        """One gradient step on a batch (obs, action, next_obs, goal, reached, chained); flat metrics.

        ``with_metrics`` False returns {} and reads nothing back from the device: no host synchronisation
        in the step (the trainer asks for metrics every ``log_every`` steps). On CUDA the loss is then
        checked for NaN only on the steps with metrics; on a CPU, where the check costs nothing, always."""
        c = self.config
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with record_function("am/augmentation"):
            if c.fusion == "pair":  # one shift for the three, as one camera sees them: pixels stay aligned
                obs, goal, next_obs = random_shift(torch.cat([batch["obs"], batch["goal"], batch["next_obs"]], 1),
                                                   c.augment_pad, self.generator).chunk(3, dim=1)
            else:
                obs = random_shift(batch["obs"], c.augment_pad, self.generator)
                goal = random_shift(batch["goal"], c.augment_pad, self.generator)
                next_obs = random_shift(batch["next_obs"], c.augment_pad, self.generator)
        action = batch["action"].float()
        with autocast_context(c.precision, self.device):
            target = self.data_targets({**batch, "next_obs": next_obs, "goal": goal}).float()  # (B,)
            with_negatives = c.use_negatives or c.method == "gcbc"
            candidates = self.negative_candidates(action) if with_negatives else None
            logit, logit_neg = self.forward_module(obs, goal, action, candidates,
                                                   lambda cand, logits: self.pick_negatives(cand, logits, action),
                                                   self._proprio(batch, "proprio"),
                                                   self.cem_candidates if c.negative_cem_search else None)
        logit = logit.float()
        logit_neg = None if logit_neg is None else logit_neg.float()
        if c.relative_target_weight > 0.0:
            # Each row's cross-entropy weighted by 1 / max(target, floor), normalised to mean 1: the error of
            # a far goal's small value counts in proportion to the value, so the few per cent by which one
            # action beats another far from the goal are resolved as well as near it.
            weight = 1.0 / target.clamp_min(c.relative_target_weight)
            loss_data = F.binary_cross_entropy_with_logits(logit, target, weight=weight / weight.mean())
        else:
            loss_data = F.binary_cross_entropy_with_logits(logit, target)
        chained = batch["chained"].bool()
        values = {"loss/data": loss_data.detach(), "q/mean_data": torch.sigmoid(logit.detach()).mean(),
                  "target/mean": target.mean(), "chained_rows": chained.sum(),
                  "q/mean_chained": (torch.sigmoid(logit.detach()) * chained).sum() / chained.sum().clamp_min(1)}
        loss = loss_data
        if logit_neg is not None:
            loss_neg = F.binary_cross_entropy_with_logits(logit_neg, torch.zeros_like(logit_neg))
            loss = loss + c.negative_weight * loss_neg
            values["loss/negative"] = loss_neg.detach()
            values["q/mean_negative"] = torch.sigmoid(logit_neg.detach()).mean()
        if (with_metrics or self.device.type != "cuda") and not torch.isfinite(loss):
            metrics = {k: v.item() for k, v in values.items()}
            raise FloatingPointError(f"non-finite loss {loss.item()} (metrics {metrics}); lower learning_rate "
                                     "or check the data for NaN")
        self.optimizer.zero_grad(set_to_none=True)
        with record_function("am/backward"):
            loss.backward()
        with record_function("am/optimizer"), torch.no_grad():
            self.optimizer.step()
            if self.q_lagged is not None:  # before the target moves: it lags the target by one more average
                for p_t, p_l in zip(self.q_target.parameters(), self.q_lagged.parameters()):
                    p_l.lerp_(p_t, c.target_tau)
            for p, p_t in zip(self.q.parameters(), self.q_target.parameters()):
                p_t.lerp_(p, c.target_tau)
        if not with_metrics:
            return {}
        values["loss/total"] = loss.detach()
        metrics = {k: v.item() for k, v in values.items()}
        if not metrics.pop("chained_rows"):
            del metrics["q/mean_chained"]
        return metrics


class TrainingForward(nn.Module):
    """The trainable forward pass in one module call, so DistributedDataParallel can wrap it.

    Embeds observation and goal once, scores the negative candidates without gradient, lets ``pick``
    choose the negatives, then scores the data action and the negatives with gradient.
    """

    def __init__(self, q: nn.Module) -> None:
        super().__init__()
        self.q = q

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, action: torch.Tensor, candidates: torch.Tensor | None,
                pick, proprio: torch.Tensor | None = None, propose=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        with record_function("am/online_encoders"):
            embedding = embed(self.q, obs, goal, proprio)
        if candidates is None:
            return self.q.score(embedding, action.unsqueeze(1)).squeeze(1), None
        with record_function("am/negatives"), torch.no_grad():
            if propose is not None:  # candidates found by search on the current Q (negative_cem_search)
                candidates = torch.cat([candidates, propose(embedding.detach()).to(candidates.dtype)], dim=1)
            negatives = pick(candidates, self.q.score(embedding.detach(), candidates))  # (B, N, A)
        with record_function("am/online_head"):
            logits = self.q.score(embedding, torch.cat([action.unsqueeze(1), negatives], dim=1))  # (B, 1 + N)
        return logits[:, 0], logits[:, 1:]
