"""The study's state rung: the same learner and objective on privileged state vectors instead of images.

A diagnostic of learning alone (docs/results.md): if a variant fails here, with perfect state, the
failure is in the objective, not in seeing. Privileged state never reaches the policy node or a pixel
learner; this script is its only user. Three commands share one data format (.npz):

    python experiments/state_rung.py collect --episodes 200 --steps 40 --out data/state_play.npz
    python experiments/state_rung.py train --data data/state_play.npz --variant full --updates 10000 --out runs/s
    python experiments/state_rung.py evaluate --run runs/s --goals 30 --max-steps 50
    python experiments/state_rung.py evaluate --run runs/s --ensemble runs/s1,runs/s2 --name ens  # mean logit of 3
    python experiments/state_rung.py diagnose --run runs/s --data data/state_heldout.npz
    python experiments/state_rung.py probe --run runs/s --task container_placing --gcbc runs/gcbc_mle
    python experiments/state_rung.py expert-path --run runs/s --task container_placing
    python experiments/state_rung.py handover --run runs/s --task container_placing  # expert first, then the policy

The state vector: the pinch point's position, yaw and closure, then per object (sorted names) its
position and orientation quaternion (w >= 0); standardised with the training data's mean and std.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from actionable_models.actions import ActionSpec
from collect import play_steps  # experiments/collect.py: the same commands as am collect
from actionable_models.errors import ConfigError
from actionable_models.evaluation import result_row, summarize
from actionable_models.learning.cem import cem_maximize
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.diagnostics import diagnose, format_rows, plot_rows
from actionable_models.learning.gc_policy import GoalConditionedPolicy, ObjectCentricGoalPolicy, sample_future_goals
from actionable_models.learning.networks import ObjectActionQ, ObjectCentricVectorQ, VectorLateFusionQ
from actionable_models.learning.objective import ActionableModelsObjective, to_tensors
from actionable_models.learning.sampler import GoalSampler, Transitions
from actionable_models.sim.cell import Cell
from actionable_models.sim.config import CellConfig
from actionable_models.sim.goals import EVALUATION_BASE_SEED, VALIDATION_BASE_SEED, generate_goal
from actionable_models.sim.play import PRIMITIVES, PlayConfig, PlayScript, weights_of
from actionable_models.sim.scripted import PickPlaceScript
from actionable_models.sim.state import SceneState
from actionable_models.sim.tasks import TASKS, is_grasped_and_lifted

# The variants of docs/results.md, as LearnerConfig overrides.
VARIANTS = {
    "full": {},
    "no_negatives": {"use_negatives": False},
    "no_chaining": {"use_chaining": False},
    "gcbc": {"method": "gcbc"},
    "gcbc_mle": {},  # an explicit policy by maximum likelihood (learning/gc_policy.py), not a Q-function
}


def state_vector(state: SceneState) -> np.ndarray:
    """Privileged state (F,) float32: pinch position (3), yaw, closure, then per object position and quaternion."""
    parts = [state.ee_pos, [state.ee_yaw, state.gripper]]
    for name in sorted(state.objects):
        pose = np.asarray(state.objects[name], dtype=float)
        quat = pose[3:7] * (1.0 if pose[3] >= 0 else -1.0)
        parts += [pose[:3], quat]
    return np.concatenate(parts).astype(np.float32)


def standardized(raw: np.ndarray, mean: np.ndarray, std: np.ndarray, relative: bool) -> torch.Tensor:
    """State vectors (..., F) as the network's standardised input (a float32 tensor)."""
    return torch.as_tensor((features(raw, relative) - mean) / std).float()


def features(raw: np.ndarray, relative: bool) -> np.ndarray:
    """The network's input from state vectors (..., F): as they are, or with ``relative`` each object's
    position minus the pinch point's appended (where the gripper must go to reach it)."""
    if not relative:
        return raw
    n_objects = (raw.shape[-1] - 5) // 7
    offsets = [raw[..., 5 + 7 * i: 8 + 7 * i] - raw[..., 0:3] for i in range(n_objects)]
    return np.concatenate([raw, *offsets], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------------------------- collect
def collect(episodes: int, steps: int, seed: int, primitives: list[str], layout: str = "default",
            scene_episodes: int = 1, miss_approach_prob: float = 0.0) -> dict:
    """Play episodes (seeds seed..seed+episodes-1) as state vectors and normalised actions, like collect.py.

    ``scene_episodes``: consecutive episodes that share one scene: the cell is reset (to the seed of the
    scene's first episode) only every that many episodes; the others start where the last one ended.
    ``scene`` (N,) holds each frame's scene seed. ``miss_approach_prob``: PlayConfig's."""
    cell = Cell(CellConfig(image_width=32, image_height=32, layout=layout))
    spec = ActionSpec()
    frames = StateFrames()
    started = time.monotonic()
    try:
        for e in range(episodes):
            scene_seed = seed + e - e % scene_episodes
            if e % scene_episodes == 0:
                cell.reset(scene_seed, layout)
            script = PlayScript(np.random.default_rng(seed + e),
                                PlayConfig(episode_steps=steps, primitive_weights=weights_of(primitives),
                                           miss_approach_prob=miss_approach_prob),
                                cell=cell.config)
            for state, action, is_last in play_steps(cell, script, spec):
                frames.add(state, action, e, is_last, scene_seed)
            if (e + 1) % 50 == 0 or e + 1 == episodes:
                print(f"[state collect] {e + 1}/{episodes} episodes, {len(frames.obs)} frames, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    finally:
        cell.close()
    return frames.arrays()


class StateFrames:
    """Frames gathered into the state rung's data format (.npz arrays): obs, actions, episode, is_last, scene."""

    def __init__(self) -> None:
        self.obs, self.actions, self.episode, self.last, self.scene = [], [], [], [], []

    def add(self, state: SceneState, action: np.ndarray, episode: int, is_last: bool, scene: int) -> None:
        self.obs.append(state_vector(state))
        self.actions.append(action)
        self.episode.append(episode)
        self.last.append(is_last)
        self.scene.append(scene)

    def arrays(self) -> dict:
        return {"obs": np.stack(self.obs), "actions": np.stack(self.actions).astype(np.float32),
                "episode": np.asarray(self.episode, np.int32), "is_last": np.asarray(self.last, bool),
                "scene": np.asarray(self.scene, np.int64)}


# ------------------------------------------------------------------------------------------------ train
def load_transitions(path: Path, relative: bool = False) -> tuple[Transitions, np.ndarray, np.ndarray]:
    """Standardised transitions of a state .npz (input :func:`features`), and the mean and std used."""
    with np.load(path) as data:
        obs, actions, episode, is_last = data["obs"], data["actions"], data["episode"], data["is_last"]
        obs = features(obs, relative)
        scene = data["scene"] if "scene" in data else None
    mean, std = obs.mean(axis=0), obs.std(axis=0) + 1e-3
    return Transitions((obs - mean) / std, actions, episode, is_last, scene), mean, std


def state_q(learner: LearnerConfig, state_dim: int, goal_difference: bool = False,
            object_centric: bool = False, object_action: bool = False) -> VectorLateFusionQ | ObjectCentricVectorQ:
    """The state rung's Q-network: an MLP over the whole vector, or one encoder shared by the objects
    (``object_action``: whose encodings also meet every scored action, ObjectActionQ)."""
    if object_action:
        return ObjectActionQ(learner, state_dim)
    if object_centric:
        return ObjectCentricVectorQ(learner, state_dim)
    return VectorLateFusionQ(learner, state_dim, goal_difference)


def train(data_path: Path, out: Path, learner: LearnerConfig, updates: int, log_every: int = 500,
          goal_difference: bool = False, relative: bool = False, object_centric: bool = False,
          object_action: bool = False) -> dict:
    """Train a state Q-network (:func:`state_q`) on the state data; writes out/q.pt and out/config.json,
    returns the last metrics."""
    if object_action and not object_centric:
        raise ConfigError("object_action extends the object-centric network: use it with object_centric")
    if object_centric and (relative or goal_difference):
        raise ConfigError("object_centric builds its own differences and relative positions: "
                          "use it without goal_difference and relative")
    torch.manual_seed(learner.seed)
    data, mean, std = load_transitions(data_path, relative)
    q = state_q(learner, data.observations.shape[1], goal_difference, object_centric, object_action)
    objective = ActionableModelsObjective(q, learner)
    sampler = GoalSampler(data, learner, np.random.default_rng(learner.seed))
    out.mkdir(parents=True, exist_ok=True)
    started, metrics, history = time.monotonic(), {}, []
    for step in range(1, updates + 1):
        logging = step % log_every == 0 or step == updates
        metrics = objective.update(to_tensors(sampler.sample(learner.batch_size).arrays(data)), with_metrics=logging)
        if logging:
            rate = step / (time.monotonic() - started)
            history.append({"step": step, **metrics})
            print(f"[state train] {step}/{updates} {rate:.1f} updates/s "
                  + " ".join(f"{k}={v:.3f}" for k, v in metrics.items()), flush=True)
    torch.save(q.state_dict(), out / "q.pt")
    np.savez(out / "norm.npz", mean=mean, std=std)
    info = {"learner": asdict(learner), "updates": updates, "state_dim": int(data.observations.shape[1]),
            "goal_difference": goal_difference, "relative": relative, "object_centric": object_centric,
            "object_action": object_action, "seconds": time.monotonic() - started, "data": str(data_path),
            "history": history}
    (out / "config.json").write_text(json.dumps(info, indent=1))
    return metrics


def mle_policy_network(state_dim: int, learner: LearnerConfig, object_centric: bool = False) -> GoalConditionedPolicy:
    """The GCBC baseline's network: an MLP over [state, goal], or over the object-centric encoding."""
    cls = ObjectCentricGoalPolicy if object_centric else GoalConditionedPolicy
    return cls(state_dim, learner.action_dim, learner.motion_dims, learner.embed_dim)


def train_mle_policy(data_path: Path, out: Path, learner: LearnerConfig, updates: int, log_every: int = 500,
                     relative: bool = False, object_centric: bool = False) -> dict:
    """The OGBench-style GCBC baseline: GoalConditionedPolicy by maximum likelihood on uniform future goals;
    writes out/policy.pt, norm.npz and config.json (``"policy": "gcbc_mle"``)."""
    if object_centric and relative:
        raise ConfigError("object_centric builds its own relative positions: use it without relative")
    torch.manual_seed(learner.seed)
    data, mean, std = load_transitions(data_path, relative)
    policy = mle_policy_network(data.observations.shape[1], learner, object_centric)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learner.learning_rate)
    rng = np.random.default_rng(learner.seed)
    obs, actions = torch.as_tensor(data.observations), torch.as_tensor(data.actions)
    out.mkdir(parents=True, exist_ok=True)
    started, history, loss = time.monotonic(), [], torch.zeros(())
    for step in range(1, updates + 1):
        index, goal = sample_future_goals(data, learner.batch_size, rng)
        loss = policy.nll(obs[index], obs[goal], actions[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == updates:
            history.append({"step": step, "loss/nll": loss.item()})
            print(f"[state train] {step}/{updates} {step / (time.monotonic() - started):.1f} updates/s "
                  f"nll={loss.item():.3f}", flush=True)
    torch.save(policy.state_dict(), out / "policy.pt")
    np.savez(out / "norm.npz", mean=mean, std=std)
    info = {"learner": asdict(learner), "policy": "gcbc_mle", "updates": updates, "relative": relative,
            "object_centric": object_centric, "state_dim": int(data.observations.shape[1]),
            "seconds": time.monotonic() - started, "data": str(data_path), "history": history}
    (out / "config.json").write_text(json.dumps(info, indent=1))
    return {"loss/nll": loss.item()}


def load_run(run: Path) -> tuple[VectorLateFusionQ, LearnerConfig, np.ndarray, np.ndarray, bool]:
    """The trained network, its config, the state normalisation of a run folder and whether its input has
    the relative features (:func:`features`)."""
    info = json.loads((run / "config.json").read_text())
    learner = LearnerConfig(**info["learner"])
    q = state_q(learner, info["state_dim"], info.get("goal_difference", False), info.get("object_centric", False),
                info.get("object_action", False))
    q.load_state_dict(torch.load(run / "q.pt"))
    norm = np.load(run / "norm.npz")
    return q.eval(), learner, norm["mean"], norm["std"], info.get("relative", False)


class QEnsemble(torch.nn.Module):
    """Several independently trained Q-functions scored as one: ``embed`` stacks the members' embeddings
    (B, M, D), ``score`` averages their logits, optionally less ``pessimism`` times their std across
    members (a lower confidence bound: where the members disagree, an action's value is least certain).

    A decision-time ensemble only: each member was trained alone by the unchanged objective."""

    def __init__(self, members: list[VectorLateFusionQ], pessimism: float = 0.0) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.pessimism = pessimism

    def embed(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.embed(obs, goal) for m in self.members], dim=1)

    def score(self, embedding: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([m.score(embedding[:, i], actions) for i, m in enumerate(self.members)])
        value = logits.mean(dim=0)
        if self.pessimism:
            value = value - self.pessimism * logits.std(dim=0)
        return value


def load_ensemble(runs: list[Path], pessimism: float = 0.0
                  ) -> tuple[QEnsemble, LearnerConfig, np.ndarray, np.ndarray, bool]:
    """:func:`load_run` over several runs of the same data and input, as one :class:`QEnsemble`; the
    first run's config and normalisation (the others' must match)."""
    loaded = [load_run(run) for run in runs]
    _, learner, mean, std, relative = loaded[0]
    for run, (_, _, m, s, r) in zip(runs[1:], loaded[1:]):
        if r != relative or m.shape != mean.shape or not (np.allclose(m, mean) and np.allclose(s, std)):
            raise SystemExit(f"ensemble: {run} was trained on other data or input than {runs[0]}")
    return QEnsemble([item[0] for item in loaded], pessimism).eval(), learner, mean, std, relative


def load_q(run: Path, ensemble: list[Path] = (), pessimism: float = 0.0
           ) -> tuple[VectorLateFusionQ | QEnsemble, LearnerConfig, np.ndarray, np.ndarray, bool]:
    """:func:`load_run` of ``run`` alone, or with more runs as one :class:`QEnsemble` (:func:`load_ensemble`)."""
    return load_ensemble([run, *ensemble], pessimism) if ensemble else load_run(run)


def max_q(q: VectorLateFusionQ, learner: LearnerConfig, embedding: torch.Tensor, generator: torch.Generator,
          search: tuple[int, int, int] | None = None, **start) -> tuple[torch.Tensor, torch.Tensor]:
    """CEM argmax_a Q per row of ``embedding`` (B, A) and its value as a probability (B,). ``search``:
    (iterations, samples, elites), the learner's by default; ``start``: cem_maximize's init_mean/init_std."""
    iterations, samples, elites = search or (learner.cem_iterations, learner.cem_samples, learner.cem_elites)
    start.setdefault("init_std", learner.cem_init_std)
    action, logit = cem_maximize(lambda a: q.score(embedding, a), len(embedding), learner.action_dim, iterations,
                                 samples, elites, generator=generator, binary_dims=learner.binary_dims, **start)
    return action, torch.sigmoid(logit)


# --------------------------------------------------------------------------------------------- evaluate
class _StateGoalPolicy:
    """What the state policies share: standardised state vectors and the goal they are driven toward."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, relative: bool = False) -> None:
        self.mean, self.std, self.relative = mean, std, relative
        self.spec = ActionSpec()
        self.goal: torch.Tensor | None = None

    def _tensor(self, state: SceneState) -> torch.Tensor:
        return standardized(state_vector(state), self.mean, self.std, self.relative).unsqueeze(0)

    def set_goal(self, state: SceneState) -> None:
        self.goal = self._tensor(state)


class StatePolicy(_StateGoalPolicy):
    """argmax_a Q(s, a, g) by CEM over state vectors, as GoalReachingPolicy does over images."""

    def __init__(self, q: VectorLateFusionQ, learner: LearnerConfig, mean: np.ndarray, std: np.ndarray,
                 seed: int = 0, proposal: "MLEPolicy | None" = None, proposal_std: float = 0.2,
                 proposal_onoff_std: float = 1.0, relative: bool = False) -> None:
        super().__init__(mean, std, relative)
        self.q, self.learner = q, learner
        self.generator = torch.Generator().manual_seed(seed)
        self.proposal = proposal
        # Motion components spread by proposal_std around the proposal's mode, on/off ones (at -1 or +1) by
        # proposal_onoff_std: at 1 about one sample in six flips each of them.
        self.proposal_std = torch.tensor([proposal_std] * learner.motion_dims
                                         + [proposal_onoff_std] * (learner.action_dim - learner.motion_dims))

    def set_goal(self, state: SceneState) -> None:
        super().set_goal(state)
        if self.proposal is not None:
            self.proposal.set_goal(state)

    @torch.inference_mode()
    def decide(self, state: SceneState) -> tuple[np.ndarray, float, float, bool]:
        """Target position, yaw, gripper closure and whether terminate won."""
        embedding = self.q.embed(self._tensor(state), self.goal)
        start = {}
        if self.proposal is not None:
            start = {"init_mean": self.proposal.mode(state), "init_std": self.proposal_std}
        action, _ = max_q(self.q, self.learner, embedding, self.generator, **start)
        return self.spec.to_command(action[0].numpy(), state.ee_pos, state.ee_yaw)


class SubgoalStatePolicy(StatePolicy):
    """Goal chaining at decision time: where some frame w of the training data makes
    V(s, w) * V(w, g) larger than V(s, g) (V = max_a Q by CEM), act toward the best such w instead of g.

    The same Q-function; the composition the paper's chaining trains into Q, done by search over
    ``candidates`` data frames (a fixed random draw) at every step."""

    def __init__(self, *args, candidates: np.ndarray, search: tuple[int, int, int] = (2, 32, 4), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = torch.as_tensor(candidates)
        self.search = search

    def _values(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """max_a Q(obs_i, a, goal_i) (N,) as probabilities, by a small CEM."""
        return max_q(self.q, self.learner, self.q.embed(obs, goal), self.generator, self.search)[1]

    @torch.inference_mode()
    def set_goal(self, state: SceneState) -> None:
        super().set_goal(state)
        self.final_goal = self.goal
        self.to_goal = self._values(self.candidates, self.goal.expand(len(self.candidates), -1))  # V(w, g)

    @torch.inference_mode()
    def decide(self, state: SceneState) -> tuple[np.ndarray, float, float, bool]:
        obs = self._tensor(state)
        direct = self._values(obs, self.final_goal)[0]
        via = self._values(obs.expand(len(self.candidates), -1), self.candidates) * self.to_goal
        best = int(via.argmax())
        subgoal = bool(via[best] > direct)
        self.goal = self.candidates[best:best + 1] if subgoal else self.final_goal
        pos, yaw, gripper, terminate = super().decide(state)
        self.goal = self.final_goal
        return pos, yaw, gripper, terminate and not subgoal  # reaching a subgoal ends nothing


class MLEPolicy(_StateGoalPolicy):
    """The GCBC baseline's policy with the StatePolicy interface: the mode of pi(a | s, g)."""

    def __init__(self, run: Path) -> None:
        info = json.loads((run / "config.json").read_text())
        learner = LearnerConfig(**info["learner"])
        norm = np.load(run / "norm.npz")
        super().__init__(norm["mean"], norm["std"], info.get("relative", False))
        self.net = mle_policy_network(info["state_dim"], learner, info.get("object_centric", False))
        self.net.load_state_dict(torch.load(run / "policy.pt"))

    def mode(self, state: SceneState) -> torch.Tensor:
        """The policy's mode (1, A) in the normalised action box."""
        return self.net.act(self._tensor(state), self.goal)

    def decide(self, state: SceneState) -> tuple[np.ndarray, float, float, bool]:
        return self.spec.to_command(self.mode(state)[0].numpy(), state.ee_pos, state.ee_yaw)


EXPERT_FINISH = {"instance_grasping": "lift", "container_placing": "container", "rearrangement": "place"}


def expert_script(goal) -> PickPlaceScript:
    """The privileged expert of a paper-task goal: the script that made its goal state."""
    return PickPlaceScript(goal.spec.object, EXPERT_FINISH[goal.spec.task], goal.spec.target_xy)


def build_policy(run: Path, cem: dict | None = None, proposal: Path | None = None, proposal_std: float = 0.2,
                 proposal_onoff_std: float = 1.0, subgoals: int = 0, ensemble: list[Path] = (),
                 pessimism: float = 0.0) -> _StateGoalPolicy:
    """The policy of a run folder: the GCBC baseline's (a gcbc_mle run), or CEM over its Q-function (with
    ``ensemble``: over the mean logit of it and more runs, :class:`QEnsemble`). ``cem``: LearnerConfig
    overrides of the policy's CEM (cem_iterations, cem_samples, cem_elites). ``proposal``: a gcbc_mle run
    whose mode (spread by ``proposal_std``) is CEM's first distribution. ``subgoals``: search this many
    training frames as subgoals (:class:`SubgoalStatePolicy`)."""
    info = json.loads((run / "config.json").read_text())
    if info.get("policy") == "gcbc_mle":
        return MLEPolicy(run)
    q, learner, mean, std, relative = load_q(run, ensemble, pessimism)
    kwargs = dict(proposal=MLEPolicy(proposal) if proposal else None, proposal_std=proposal_std,
                  proposal_onoff_std=proposal_onoff_std, relative=relative)
    learner = LearnerConfig(**{**asdict(learner), **(cem or {})})
    if not subgoals:
        return StatePolicy(q, learner, mean, std, **kwargs)
    with np.load(info["data"]) as data:
        frames = features(data["obs"], relative)
    pick = np.random.default_rng(0).choice(len(frames), size=subgoals, replace=False)
    candidates = ((frames[pick] - mean) / std).astype(np.float32)
    return SubgoalStatePolicy(q, learner, mean, std, candidates=candidates, **kwargs)


def rollout(cell: Cell, policy: _StateGoalPolicy, max_steps: int, steps: int = 0) -> tuple[int, bool]:
    """Drive ``cell`` with ``policy`` (its goal set) until it terminates or ``max_steps`` control steps have
    passed, counting from ``steps`` already taken; (steps taken in all, whether the policy stopped)."""
    while steps < max_steps:
        state = cell.scene_state()
        pos, yaw, gripper, terminate = policy.decide(state)
        if terminate:
            return steps, True
        lo, hi = cell.config.workspace_min, cell.config.workspace_max
        cell.set_command(np.clip(pos, lo, hi), float(np.clip(yaw, *cell.config.yaw_limits)), gripper)
        cell.step()
        steps += 1
    return steps, False


def task_goals(cell: Cell, task: str, goals: int, base_seed: int):
    """The generated goals of ``task`` from seed ``base_seed`` on, each with ``cell`` reset to its start
    scene: yields (goal, start state)."""
    for seed in range(base_seed, base_seed + goals):
        goal = generate_goal(cell, task, seed)
        cell.reset(seed, goal.spec.layout)
        yield goal, cell.scene_state()


def evaluate(run: Path, goals: int, max_steps: int, base_seed: int = EVALUATION_BASE_SEED,
             tasks: tuple[str, ...] = TASKS, **policy_options) -> list[dict]:
    """Roll the state policy out toward ``goals`` generated goals per task; result rows as evaluation.py's.
    ``policy_options``: :func:`build_policy`'s (cem, proposal, subgoals, ensemble, pessimism, ...)."""
    policy = build_policy(run, **policy_options)
    cell = Cell(CellConfig(image_width=32, image_height=32))
    rows = []
    try:
        for task in tasks:
            for goal, start in task_goals(cell, task, goals, base_seed):
                policy.set_goal(goal.state)
                steps, stopped = rollout(cell, policy, max_steps)
                rows.append(result_row(goal, start, cell.scene_state(), steps, stopped))
    finally:
        cell.close()
    return rows


ROLLOUT_BASE_SEED = 300000
"""Goals the policy is rolled out toward to record its own experience (``rollouts``): seeds of neither the
evaluation (100000-) nor the validation (200000-) goals."""


def record_rollouts(run: Path, goals: int, max_steps: int, base_seed: int = ROLLOUT_BASE_SEED,
                    tasks: tuple[str, ...] = TASKS, **policy_options) -> dict:
    """The policy's own rollouts toward ``goals`` generated goals per task, as play data (collect's format).

    Each rollout is one episode of ``max_steps`` commands: the state vectors it passed, the action of each
    command the cell received (clipped to the workspace, as it ran; ActionSpec.from_command), and the last
    frame with a stay action, as play_steps records it. The goals themselves are not stored: like play,
    the data is unlabelled and the learner relabels it. ``scene`` holds each episode's goal seed."""
    policy = build_policy(run, **policy_options)
    cell = Cell(CellConfig(image_width=32, image_height=32))
    spec = ActionSpec()
    frames = StateFrames()
    started = time.monotonic()
    index = -1
    try:
        for task in tasks:
            for goal, _ in task_goals(cell, task, goals, base_seed):
                index += 1
                policy.set_goal(goal.state)
                for _ in range(max_steps):
                    state = cell.scene_state()
                    # Its terminate is not obeyed: what the arm does after it would have stopped is experience too.
                    pos, yaw, gripper, _ = policy.decide(state)
                    lo, hi = cell.config.workspace_min, cell.config.workspace_max
                    pos, yaw = np.clip(pos, lo, hi), float(np.clip(yaw, *cell.config.yaw_limits))
                    frames.add(state, spec.from_command(pos, yaw, gripper, state.ee_pos, state.ee_yaw), index,
                               False, goal.spec.seed)
                    cell.set_command(pos, yaw, gripper)
                    cell.step()
                state = cell.scene_state()
                ee_pos, ee_yaw = cell.ee_pose()
                frames.add(state, spec.normalize(ee_pos, ee_yaw, state.gripper, ee_pos, ee_yaw), index, True,
                           goal.spec.seed)
            print(f"[state rollouts] {task}: {index + 1} episodes, {len(frames.obs)} frames, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
    finally:
        cell.close()
    return frames.arrays()


HANDOVER_PHASES = ("start", "descend", "close", "lift", "carry", "lower")
"""Where the expert hands over: at the start (the policy alone), or when its script enters that phase."""


def handover(run: Path, task: str, goals: int, phases: tuple[str, ...] = HANDOVER_PHASES, max_steps: int = 50,
             base_seed: int = EVALUATION_BASE_SEED, **policy_options) -> list[dict]:
    """Which segment of a task fails in closed loop? For each of ``phases``, the privileged expert (the
    script that made the goal) drives each of ``goals`` goals until its script enters that phase, then
    the policy takes over for the rest of the ``max_steps`` budget. A policy that succeeds once handed
    the object's hover point but not from the start fails in the approach. Result rows as
    :func:`evaluate`'s, with the phase, the expert's steps and whether the object was grasped and lifted
    while the policy drove."""
    unknown = sorted(set(phases) - set(HANDOVER_PHASES))
    if task not in EXPERT_FINISH or unknown:
        raise SystemExit(f"handover: task must be one of {', '.join(EXPERT_FINISH)} (got {task!r}) and phases "
                         f"some of {', '.join(HANDOVER_PHASES)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    policy = build_policy(run, **policy_options)
    cell = Cell(CellConfig(image_width=32, image_height=32))
    rows = []
    try:
        for phase in phases:
            for goal, start in task_goals(cell, task, goals, base_seed):
                script, expert_steps = expert_script(goal), 0
                while phase != "start" and script.phase not in (phase, "done"):
                    command = script.act(cell.scene_state())
                    cell.set_command(command.pos, command.yaw, command.gripper)
                    cell.step()
                    expert_steps += 1
                policy.set_goal(goal.state)
                lifted = False
                steps, stopped = expert_steps, False
                while steps < max_steps and not stopped:  # one step at a time, to watch for a grasp
                    steps, stopped = rollout(cell, policy, steps + 1, steps)
                    lifted |= is_grasped_and_lifted(cell.scene_state(), goal.spec.object)
                row = result_row(goal, start, cell.scene_state(), steps, stopped)
                rows.append({**row, "handover": phase, "expert_steps": expert_steps, "policy_lifted": lifted})
    finally:
        cell.close()
    return rows


def format_handover(rows: list[dict]) -> str:
    """Markdown: per handover phase, success, grasps by the policy and the expert's mean steps."""
    lines = ["| expert hands over at | success | object grasped and lifted by the policy | expert's steps (mean) |",
             "|---|---|---|---|"]
    for phase in dict.fromkeys(r["handover"] for r in rows):
        own = [r for r in rows if r["handover"] == phase]
        lines.append(f"| {phase} | {sum(r['success'] for r in own)}/{len(own)} | "
                     f"{sum(r['policy_lifted'] for r in own)}/{len(own)} | "
                     f"{np.mean([r['expert_steps'] for r in own]):.1f} |")
    return "\n".join(lines) + "\n"


def report(rows: list[dict]) -> str:
    """One line per task: successes, and how often the gripper ended nearer the goal's gripper position."""
    lines = []
    for task, row in summarize(rows).items():
        own = [r for r in rows if r["task"] == task]
        closer = sum(r["ee_to_goal_end_m"] < r["ee_to_goal_start_m"] for r in own)
        moved = [r["object_to_goal_end_m"] < r["object_to_goal_start_m"] - 0.01 for r in own if "object_to_goal_end_m" in r]
        lines.append(f"{task}: {row['successes']}/{row['trials']} success, gripper closer {closer}/{len(own)}"
                     + (f", object nearer {sum(moved)}/{len(moved)}" if moved else ""))
    return "\n".join(lines)


def object_height_probe(q: VectorLateFusionQ, learner: LearnerConfig, obs: np.ndarray, episode: np.ndarray,
                        mean: np.ndarray, std: np.ndarray, frames: int = 200, seed: int = 0,
                        relative: bool = False) -> dict:
    """Does Q read an object's height? For held-out frames g where an object is lifted (z > 0.10 m), max_a
    Q(g, a, g) against max_a Q(s, a, g) with s = g but that object put back at its lowest height in the
    episode, all else equal. A Q-function that reads the object gives the second a clearly lower value."""
    n_objects = (obs.shape[1] - 5) // 7
    z = np.stack([obs[:, 5 + 7 * i + 2] for i in range(n_objects)], axis=1)
    lifted = np.argwhere(z > 0.10)
    if not len(lifted):
        return {"frames": 0}
    pick = lifted[np.random.default_rng(seed).choice(len(lifted), size=min(frames, len(lifted)), replace=False)]
    goal = obs[pick[:, 0]].copy()
    put_down = goal.copy()
    for row, (frame, obj) in enumerate(pick):
        put_down[row, 5 + 7 * obj + 2] = z[episode == episode[frame], obj].min()

    def best(states: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            embedding = q.embed(torch.as_tensor((features(states, relative) - mean) / std),
                                torch.as_tensor((features(goal, relative) - mean) / std))
            return max_q(q, learner, embedding, torch.Generator().manual_seed(seed))[1].numpy()

    at_goal, without = best(goal), best(put_down)
    return {"frames": len(pick), "q_at_goal": float(at_goal.mean()), "q_object_put_down": float(without.mean())}


NO_MOTION_OPEN = torch.tensor([0.0, 0.0, 0.0, 0.0, -1.0, -1.0])
"""The normalised action that stands still with the gripper open (and does not terminate)."""


def task_start_probe(run: Path, task: str, goals: int = 10, base_seed: int = EVALUATION_BASE_SEED,
                     gcbc: Path | None = None, ensemble: list[Path] = ()) -> dict:
    """Q at the start of ``goals`` task goals: of a few named actions (no motion, straight toward the goal
    object, straight toward where the goal has the gripper, the CEM argmax, and a GCBC run's action), and
    max_a Q from the start state, from the start with the goal object already where the goal has it, from
    the start with the gripper (empty) where the goal has it, and from the goal itself. Means over the
    goals (probabilities). ``ensemble``: more runs scored with ``run`` (:class:`QEnsemble`)."""
    q, learner, mean, std, relative = load_q(run, ensemble)
    vec = lambda x: standardized(x, mean, std, relative).unsqueeze(0)
    prior = MLEPolicy(gcbc) if gcbc else None
    cell = Cell(CellConfig(image_width=32, image_height=32))
    rows = []
    try:
        for seed in range(base_seed, base_seed + goals):
            goal = generate_goal(cell, task, seed)
            cell.reset(seed, goal.spec.layout)
            start, g = cell.scene_state(), goal.state
            s_vec, g_vec = state_vector(start), state_vector(g)
            i = sorted(start.objects).index(goal.spec.object)
            moved = s_vec.copy()
            moved[5 + 7 * i: 12 + 7 * i] = g_vec[5 + 7 * i: 12 + 7 * i]
            empty_at_goal = s_vec.copy()  # the gripper where the goal has it, the objects where they start
            empty_at_goal[:4] = g_vec[:4]

            def toward(xyz: np.ndarray) -> torch.Tensor:  # full speed (or less, to arrive) toward xyz, open
                d = np.asarray(xyz) - start.ee_pos
                d = d / max(np.linalg.norm(d), 1e-6) * min(1.0, np.linalg.norm(d) / ActionSpec().max_translation_m)
                return torch.tensor([[d[0], d[1], d[2], 0.0, -1.0, -1.0]], dtype=torch.float32)

            with torch.inference_mode():
                def best(embedding: torch.Tensor) -> tuple[torch.Tensor, float]:
                    action, value = max_q(q, learner, embedding, torch.Generator().manual_seed(0))
                    return action, value.item()

                embedding = q.embed(vec(s_vec), vec(g_vec))
                argmax, v_start = best(embedding)
                actions = {"no motion": NO_MOTION_OPEN[None],
                           "toward the object": toward(start.object_pos(goal.spec.object) + [0, 0, 0.02]),
                           "toward the goal's gripper": toward(g.ee_pos), "CEM argmax": argmax}
                if prior is not None:
                    prior.set_goal(g)
                    actions["GCBC's action"] = prior.mode(start)
                row = {name: torch.sigmoid(q.score(embedding, a.unsqueeze(1))).item() for name, a in actions.items()}
                row.update({"max Q from the start": v_start,
                            "max Q, object already at goal": best(q.embed(vec(moved), vec(g_vec)))[1],
                            "max Q, empty gripper at goal's": best(q.embed(vec(empty_at_goal), vec(g_vec)))[1],
                            "max Q from the goal": best(q.embed(vec(g_vec), vec(g_vec)))[1]})
            rows.append(row)
    finally:
        cell.close()
    return {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}


def expert_path_probe(run: Path, task: str, goals: int = 10, base_seed: int = EVALUATION_BASE_SEED,
                      ensemble: list[Path] = ()) -> dict[int, tuple]:
    """Q along the privileged expert's own path to ``goals`` task goals: at every step, Q of the expert's
    action, Q of no motion with the gripper open, and max Q by CEM, averaged by the steps k the expert
    still needed (k = 1: its last command). A Q-function that has learned the task falls like
    gamma^(k-1) along the path and rates the expert's action at about its max; where it drops faster, or
    rates standing still above the expert, is where value stopped propagating. {k: (Q expert, Q still,
    max Q, gamma^(k-1), count)}. ``ensemble``: more runs scored with ``run`` (:class:`QEnsemble`)."""
    if task not in EXPERT_FINISH:
        raise ValueError(f"expert-path: task must be one of {', '.join(EXPERT_FINISH)}, got {task!r}")
    q, learner, mean, std, relative = load_q(run, ensemble)
    vec = lambda x: standardized(x, mean, std, relative)
    cell, spec = Cell(CellConfig(image_width=32, image_height=32)), ActionSpec()
    by_k: dict[int, list] = {}
    try:
        for seed in range(base_seed, base_seed + goals):
            goal = generate_goal(cell, task, seed)
            cell.reset(seed, goal.spec.layout)
            script = expert_script(goal)
            path = [(state_vector(s), a) for s, a, last in play_steps(cell, script, spec) if not last]
            s = vec(np.stack([p[0] for p in path]))
            actions = torch.as_tensor(np.stack([p[1] for p in path])).float()
            with torch.inference_mode():
                embedding = q.embed(s, vec(state_vector(goal.state))[None].expand(len(path), -1))
                q_expert = torch.sigmoid(q.score(embedding, actions[:, None]))[:, 0]
                q_still = torch.sigmoid(q.score(embedding, NO_MOTION_OPEN.expand(len(path), 1, -1)))[:, 0]
                _, q_max = max_q(q, learner, embedding, torch.Generator().manual_seed(0))
            for t in range(len(path)):
                by_k.setdefault(len(path) - t, []).append((q_expert[t].item(), q_still[t].item(), q_max[t].item()))
    finally:
        cell.close()
    return {k: (*np.mean(v, axis=0), learner.gamma ** (k - 1), len(v)) for k, v in sorted(by_k.items())}


def format_expert_path(rows: dict[int, tuple]) -> str:
    lines = ["| steps to go k | Q(expert's action) | Q(no motion, open) | max Q | gamma^(k-1) | goals |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {e:.3f} | {s:.3f} | {m:.3f} | {g:.3f} | {n} |" for k, (e, s, m, g, n) in rows.items()]
    return "\n".join(lines) + "\n"


# What a run's config meant by a field it does not name: the behaviour before the field existed.
LEGACY_LEARNER = {"binary_gripper_terminate": False, "chain_bootstrap": "max"}


def runs_table(runs: list[Path], name: str = "eval") -> str:
    """Markdown: one row per evaluated run (its settings against the defaults, updates, success per task
    with 95 % Wilson intervals, and Q of held-out data and swapped goals at k = 8 when diagnosed)."""
    defaults = asdict(LearnerConfig())
    evaluated = {t for run in runs for t in summarize(json.loads((run / f"{name}.json").read_text()))}
    tasks = [t for t in TASKS if t in evaluated]  # a run not evaluated on a task shows "-"
    lines = []
    for run in runs:
        info = json.loads((run / "config.json").read_text())
        info["learner"] = {**LEGACY_LEARNER, **info["learner"]}
        rows = json.loads((run / f"{name}.json").read_text())
        summary = summarize(rows)
        learner = info["learner"]
        ignored = {"batch_size"}  # and the settings of terms the run does not use
        if not learner["use_chaining"] or learner["method"] == "gcbc":
            ignored |= {"chain_bootstrap", "chain_scope", "chain_fraction"}
        if learner["method"] == "gcbc":
            ignored |= {"negative_temperature", "use_chaining"}
        changed = {k: v for k, v in learner.items() if v != defaults[k] and k not in ignored}
        setting = ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"
        for flag in ("relative", "goal_difference", "object_centric", "object_action"):
            if info.get(flag):
                setting = (f"{flag}, " + setting) if setting != "defaults" else flag
        if info.get("policy") == "gcbc_mle":
            setting = "explicit policy by maximum likelihood (gc_policy.py), uniform future goals"
        data = Path(info.get("data", "?")).stem
        cells = [f"{s['successes']}/{s['trials']} ({s['ci95'][0]:.2f}-{s['ci95'][1]:.2f})" if s else "-"
                 for s in (summary.get(t) for t in tasks)]
        q8 = "-"
        diag = run / "diagnostics.md"
        if diag.is_file():
            for line in diag.read_text().splitlines():
                parts = [p.strip() for p in line.strip("|").split("|")]
                if parts and parts[0] == "8":
                    q8 = f"{parts[2]} / {parts[4]}"
        lines.append(f"| {run.name} | {data} | {setting} | {info['updates']} x {info['learner']['batch_size']} | "
                     + " | ".join(cells) + f" | {q8} |")
    head = ("| run | data | settings (not default) | updates x batch | " + " | ".join(tasks or []) +
            " | Q(data) / Q(swapped) at k=8 |")
    return "\n".join([head, "|" + "---|" * (len(tasks or []) + 5)] + lines) + "\n"


def pooled_table(groups: dict[str, list[Path]], name: str = "eval") -> str:
    """Markdown: per group of runs (seeds of one variant), successes per task pooled over the runs, with
    95 % Wilson intervals."""
    pooled = {label: summarize([row for run in runs for row in json.loads((run / f"{name}.json").read_text())])
              for label, runs in groups.items()}
    tasks = [t for t in TASKS if any(t in summary for summary in pooled.values())]
    lines = ["| variant | runs | " + " | ".join(tasks) + " |", "|" + "---|" * (len(tasks) + 2)]
    for label, summary in pooled.items():
        cells = [f"{summary[t]['successes']}/{summary[t]['trials']} = {summary[t]['rate']:.0%} "
                 f"({summary[t]['ci95'][0]:.2f}-{summary[t]['ci95'][1]:.2f})" if t in summary else "-" for t in tasks]
        lines.append(f"| {label} | {', '.join(r.name for r in groups[label])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _run_list(text: str) -> list[Path]:
    """``"RUN,RUN"`` -> run folders (empty items ignored)."""
    return [Path(r) for r in text.split(",") if r]


def _learner_overrides(text: str) -> dict:
    """``"gamma=0.95,num_negatives=8"`` -> typed overrides of LearnerConfig fields."""
    defaults = asdict(LearnerConfig())
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in defaults:
            raise SystemExit(f"--set: unknown LearnerConfig field {name!r}")
        kind = type(defaults[name])
        out[name] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--episodes", type=int, default=200)
    c.add_argument("--steps", type=int, default=40)
    c.add_argument("--seed", type=int, default=1000)
    c.add_argument("--primitives", default=",".join(PRIMITIVES))
    c.add_argument("--scene-episodes", type=int, default=1, help="consecutive episodes sharing one scene")
    c.add_argument("--miss-prob", type=float, default=0.0,
                   help="PlayConfig.miss_approach_prob: grasps that first miss low beside the object, then recover")
    c.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--variant", choices=tuple(VARIANTS), default="full")
    t.add_argument("--updates", type=int, default=10000)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--set", default="", help="LearnerConfig overrides, e.g. gamma=0.95,target_tau=0.01")
    t.add_argument("--goal-difference", action="store_true",
                   help="the Q-network fuses an encoding of goal - state (VectorLateFusionQ goal_difference)")
    t.add_argument("--relative", action="store_true",
                   help="append each object's position relative to the pinch point to the input (features)")
    t.add_argument("--object-centric", action="store_true",
                   help="one encoder shared by every object's row (ObjectCentricVectorQ), instead of one MLP")
    t.add_argument("--object-action", action="store_true",
                   help="with --object-centric: every scored action also meets each object's encoding (ObjectActionQ)")
    t.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("evaluate")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--goals", type=int, default=30)
    e.add_argument("--max-steps", type=int, default=50)
    e.add_argument("--tasks", default=",".join(TASKS))
    e.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED,
                   help=f"goals from seeds BASE.. ({EVALUATION_BASE_SEED}: the evaluation goals; choose variants "
                        f"on another range, e.g. {VALIDATION_BASE_SEED}, so that nothing is tuned on them)")
    e.add_argument("--cem", default="", help="the policy's CEM, e.g. cem_iterations=5,cem_samples=256,cem_elites=16")
    e.add_argument("--name", default="eval", help="results file RUN/NAME.json (default eval.json)")
    e.add_argument("--ensemble", default="", help="more runs, RUN,RUN: CEM maximises the mean logit of all")
    e.add_argument("--pessimism", type=float, default=0.0,
                   help="with --ensemble: maximise mean - PESSIMISM x std of the members' logits")
    e.add_argument("--subgoals", type=int, default=0,
                   help="search this many training frames as subgoals at every step (goal chaining at decision time)")
    e.add_argument("--proposal", type=Path, help="a gcbc_mle run: CEM starts around its action, not at 0")
    e.add_argument("--proposal-std", type=float, default=0.2, help="std of CEM's first motion samples around it")
    e.add_argument("--proposal-onoff-std", type=float, default=1.0,
                   help="std of its on/off components (gripper, terminate); 1 flips about one sample in six")
    d = sub.add_parser("diagnose", help="the Q diagnostics table on held-out episodes (other seeds)")
    d.add_argument("--run", type=Path, required=True)
    d.add_argument("--data", type=Path, required=True)
    d.add_argument("--ensemble", default="",
                   help="more runs, RUN,RUN: diagnose the mean logit of all (writes RUN/diagnostics_ensemble.md)")
    pr = sub.add_parser("probe", help="Q of named actions and max Q at the start of task goals (means)")
    pr.add_argument("--run", type=Path, required=True)
    pr.add_argument("--task", default="container_placing")
    pr.add_argument("--goals", type=int, default=10)
    pr.add_argument("--gcbc", type=Path, help="a gcbc_mle run whose action is scored too")
    pr.add_argument("--ensemble", default="", help="more runs, RUN,RUN: probe the mean logit of all")
    pr.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED,
                    help="first goal seed (validation goals: 200000, apart from the evaluation goals)")
    r = sub.add_parser("table", help="a Markdown table of evaluated runs")
    r.add_argument("runs", type=Path, nargs="+")
    r.add_argument("--name", default="eval", help="the results file of each run, RUN/NAME.json (default eval)")
    ep = sub.add_parser("expert-path", help="Q along the privileged expert's path to task goals, by steps to go")
    ep.add_argument("--run", type=Path, required=True)
    ep.add_argument("--task", default="container_placing", choices=tuple(EXPERT_FINISH))
    ep.add_argument("--goals", type=int, default=10)
    ep.add_argument("--ensemble", default="", help="more runs, RUN,RUN: the mean logit of all")
    ep.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED,
                    help="first goal seed (validation goals: 200000, apart from the evaluation goals)")
    ho = sub.add_parser("handover", help="the expert drives each goal to a phase, then the policy: where closed loop fails")
    ho.add_argument("--run", type=Path, required=True)
    ho.add_argument("--ensemble", default="", help="more runs, RUN,RUN: CEM maximises the mean logit of all")
    ho.add_argument("--task", default="container_placing", choices=tuple(EXPERT_FINISH))
    ho.add_argument("--goals", type=int, default=20)
    ho.add_argument("--max-steps", type=int, default=50)
    ho.add_argument("--phases", default=",".join(HANDOVER_PHASES))
    ho.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED)
    ho.add_argument("--name", default="handover", help="results file RUN/NAME.json (default handover.json)")
    ro = sub.add_parser("rollouts", help="record the policy's own rollouts toward goals as play data (.npz)")
    ro.add_argument("--run", type=Path, required=True)
    ro.add_argument("--ensemble", default="", help="more runs, RUN,RUN: CEM maximises the mean logit of all")
    ro.add_argument("--goals", type=int, default=100, help="goals per task")
    ro.add_argument("--max-steps", type=int, default=50)
    ro.add_argument("--tasks", default=",".join(TASKS))
    ro.add_argument("--base-seed", type=int, default=ROLLOUT_BASE_SEED,
                    help="first goal seed (default: neither evaluation nor validation goals)")
    ro.add_argument("--out", type=Path, required=True)
    pl = sub.add_parser("pool", help="success pooled over the seeds of each variant: LABEL=RUN,RUN,...")
    pl.add_argument("groups", nargs="+")
    pl.add_argument("--name", default="eval", help="the results file of each run, RUN/NAME.json (default eval)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "collect":
        arrays = collect(args.episodes, args.steps, args.seed, [p for p in args.primitives.split(",") if p],
                         scene_episodes=args.scene_episodes, miss_approach_prob=args.miss_prob)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out, **arrays)
        print(f"[state collect] wrote {args.out} ({len(arrays['obs'])} frames)")
    elif args.command == "train":
        learner = LearnerConfig(**{"batch_size": args.batch_size, "seed": args.seed, **VARIANTS[args.variant],
                                   **_learner_overrides(args.set)})
        if args.variant == "gcbc_mle":
            if args.object_action:
                parser.error("--object-action shapes a Q-network's action scoring; gcbc_mle has none")
            train_mle_policy(args.data, args.out, learner, args.updates, relative=args.relative,
                             object_centric=args.object_centric)
        else:
            train(args.data, args.out, learner, args.updates, goal_difference=args.goal_difference,
                  relative=args.relative, object_centric=args.object_centric, object_action=args.object_action)
    elif args.command == "rollouts":
        if args.base_seed < ROLLOUT_BASE_SEED and args.base_seed + args.goals > EVALUATION_BASE_SEED:
            parser.error(f"--base-seed {args.base_seed}: rollouts toward evaluation or validation goals would "
                         f"train on them; use seeds from {ROLLOUT_BASE_SEED}")
        arrays = record_rollouts(args.run, args.goals, args.max_steps, args.base_seed,
                                 tuple(args.tasks.split(",")), ensemble=_run_list(args.ensemble))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out, **arrays)
        print(f"[state rollouts] wrote {args.out} ({len(arrays['obs'])} frames)")
    elif args.command == "pool":
        groups = {}
        for item in args.groups:
            label, _, runs = item.partition("=")
            groups[label] = _run_list(runs)
        print(pooled_table(groups, args.name), end="")
    elif args.command == "probe":
        for name, value in task_start_probe(args.run, args.task, args.goals, args.base_seed, gcbc=args.gcbc,
                                            ensemble=_run_list(args.ensemble)).items():
            print(f"{name:32s} {value:.3f}")
    elif args.command == "expert-path":
        print(format_expert_path(expert_path_probe(args.run, args.task, args.goals, args.base_seed,
                                                       ensemble=_run_list(args.ensemble))), end="")
    elif args.command == "handover":
        rows = handover(args.run, args.task, args.goals, tuple(args.phases.split(",")), args.max_steps,
                        args.base_seed, ensemble=_run_list(args.ensemble))
        (args.run / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
        print(format_handover(rows), end="")
    elif args.command == "table":
        print(runs_table(args.runs, args.name), end="")
    elif args.command == "diagnose":
        members = _run_list(args.ensemble)
        q, learner, mean, std, relative = load_q(args.run, members)
        stem = "diagnostics_ensemble" if members else "diagnostics"
        with np.load(args.data) as held:
            data = Transitions((features(held["obs"], relative) - mean) / std, held["actions"], held["episode"],
                               held["is_last"])
        rows = diagnose(q, learner, data)
        with np.load(args.data) as held:
            probe = object_height_probe(q, learner, held["obs"], held["episode"], mean, std, relative=relative)
        table = format_rows(rows)
        if probe["frames"]:
            table += (f"\nObject-height probe ({probe['frames']} held-out frames with an object lifted): max Q at "
                      f"the goal state {probe['q_at_goal']:.3f}, with the object put back on the table (all else "
                      f"equal) {probe['q_object_put_down']:.3f}\n")
        (args.run / f"{stem}.md").write_text(table)
        title = f"state rung {args.run.name}{' + ' + ', '.join(m.name for m in members) if members else ''}"
        plot_rows(rows, args.run / f"{stem}.png", title=f"{title} on {args.data.name}")
        print(table, end="")
    else:
        rows = evaluate(args.run, args.goals, args.max_steps, base_seed=args.base_seed,
                        tasks=tuple(args.tasks.split(",")),
                        cem=_learner_overrides(args.cem), proposal=args.proposal, proposal_std=args.proposal_std,
                        proposal_onoff_std=args.proposal_onoff_std, subgoals=args.subgoals,
                        ensemble=_run_list(args.ensemble), pessimism=args.pessimism)
        (args.run / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
        print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
