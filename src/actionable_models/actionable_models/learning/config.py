"""Typed configuration of the learner. Every term of the objective can be switched off for ablations."""

from __future__ import annotations

from dataclasses import dataclass

from actionable_models.errors import ConfigError

FUSIONS = ("late", "early", "pair")
PRECISIONS = ("auto", "fp32", "bf16")
CHAIN_SCOPES = ("scene", "dataset")
CHAIN_BOOTSTRAPS = ("max", "logged")
METHODS = ("actionable_models", "gcbc")


@dataclass
class LearnerConfig:
    """Network, objective and optimisation settings."""

    method: str = "actionable_models"
    """'actionable_models' (the Q-learning objective) or 'gcbc' (goal-conditioned behaviour cloning)."""
    fusion: str = "late"
    """'late': images encoded once per sample, a small head scores many actions; 'early': goal and
    observation stacked, the action merged into the conv features (QT-Opt), every action re-runs the convs;
    'pair': goal and observation stacked (6 channels) through one encoder, the action scored by late fusion's
    small head, so the convs compare the two images pixel by pixel (where a 3 px object moved) and run once
    per sample; observation, goal and next observation then share one random shift."""
    image_size: int = 64
    """Side of the square training images (must match the dataset)."""
    action_dim: int = 6
    """Normalised action: translation 3, yaw 1, gripper 1, terminate 1 (actionable_models.actions)."""
    embed_dim: int = 256
    """Width of the image embedding and of the action head."""
    gamma: float = 0.9
    """Discount; Q is the probability of reaching the goal, discounted per step (paper: 0.9)."""
    relabel_future_p: float = 0.3
    """Relabeled goals are k >= 1 frames ahead with k ~ Geometric(p): 0.3 makes k = 1, a reaching step
    with target 1, 30 % of the time (the paper samples sub-sequences; it fixes no distribution)."""
    relabel_uniform_fraction: float = 0.0
    """Share of relabeled goals drawn uniformly from all later frames of the episode instead of k ~
    Geometric(relabel_future_p) (OGBench's trajectory goals): far goals, as far as the tasks' own."""
    mc_lower_bound: bool = False
    """Monte Carlo lower bound on relabeled targets: the data reached the goal k steps after s, so the
    discounted value of its action is at least gamma^(k-1); the bootstrapped target is raised to that."""
    n_step: int = 1
    """Relabeled rows bootstrap this many steps along the logged path: the target is gamma^(k-1) where the
    data reached the goal k <= n_step steps on, else gamma^n_step * max_a' Q_target(s_{t+n_step}, a', g).
    1 is the paper's one-step target. Fewer maxima per path: a far goal's value rests on the value n steps
    nearer instead of on one step's max (docs/learning.md). Chained rows stay one-step."""
    use_negatives: bool = True
    """Artificial negatives: unseen actions pushed toward Q = 0 (the conservative term)."""
    num_negatives: int = 4
    """Negative actions per sample."""
    negative_candidates: int = 32
    """Uniform candidates per sample that negatives are drawn from (with replacement), ~ exp(Q / temperature)."""
    negative_temperature: float = 0.1
    """Temperature of the exp(Q / T) sampling of negatives, Q the probability. At 1.0 (exp(Q) as written in
    the paper) the weights differ by at most a factor e, so the draw is nearly uniform and misses the
    overrated actions that CEM then finds; 0.1 concentrates it on them (measured, docs/learning.md)."""
    negative_scale: str = "probability"
    """What the negatives' exp(x / T) weighs: 'probability' (x = Q, as the paper writes it) or 'logit'
    (x = the logit of Q, about log Q where Q is small, so the weights are about Q^(1/T): as selective among
    far goals' values of a few per cent as among near goals' values near 1, where exp(Q / T) is almost
    uniform)."""
    negative_min_distance: float = 0.5
    """Candidates closer than this (L2, normalised action space) to the data action are never negatives."""
    negative_motion_fraction: float = 0.5
    """Share of the negative candidates that resample only the arm's motion (the first ``motion_dims``
    components) and keep the data action's gripper and terminate. Fully uniform candidates differ from the
    data in gripper and terminate too, so a network can tell them apart without looking at the goal;
    these cannot be, which forces Q to read the goal to rank directions (0 turns them off)."""
    negative_cem_fraction: float = 0.0
    """Share of the negative candidates whose motion components are drawn as CEM draws its first samples,
    N(0, 0.5^2) clipped to the box, instead of uniformly: CEM searches most densely near zero motion,
    where uniform candidates in the 4-D motion box almost never land, so what Q overrates there is never
    pushed down (spread evenly over the candidates, so both the motion-only and the full ones get them)."""
    negative_cem_search: bool = False
    """Add to each sample's negative candidates the action a CEM search (the policy's) finds on the online
    Q at s: the action the policy would take is the one most worth pushing down when it is not the data's.
    Uniform candidates rarely land on the narrow peaks CEM finds (measured on the state rung: far from a
    goal the CEM argmax was rated 2-4 times the data action, docs/learning.md)."""
    motion_dims: int = 4
    """Leading action components that move the arm (translation 3 + yaw 1 in actionable_models.actions);
    with action_dim <= motion_dims every candidate is uniform."""
    negative_weight: float = 1.0
    """Weight of the negatives' cross-entropy against the data samples'."""
    use_chaining: bool = True
    """Goal chaining: a share of each batch reconditioned on goals from other episodes."""
    chain_scope: str = "dataset"
    """Where chained goals come from: 'dataset', any other episode (the paper); 'scene', another episode
    recorded in the same scene (the episode metadata's layout and seed), so that a path to the goal can
    exist. With chain_bootstrap 'logged' goals from other scenes teach Q what is out of reach
    (docs/learning.md, Goal chaining)."""
    chain_bootstrap: str = "logged"
    """Target of a chained row: 'logged', gamma * Q_target(s', a_logged', g) of the action the data took
    next, which cannot inflate the value of a goal no path reaches (at an episode's last frame, where no
    action was logged, the CEM max, so that value still crosses into other episodes); 'max', gamma * max_a' Q_target(s', a', g)
    by CEM (the paper), which held Q of other episodes' goals at 0.36 against 0.39 for the episode's own on
    the state rung (logged: 0.01 against 0.34; docs/learning.md)."""
    relabel_bootstrap: str = "max"
    """Target of a relabeled (own-episode) row that is not rewarded: 'max', gamma * max_a' Q_target(s', a',
    g) by CEM (the paper); 'logged', from the action the data took next, like chained rows under
    chain_bootstrap 'logged' (the CEM max kept at episodes' last frames). Needs chain_bootstrap 'logged'."""
    chain_fraction: float = 0.3
    """Share of the batch with goals from other episodes (bootstrapped, never a positive reward)."""
    past_goal_fraction: float = 0.0
    """Share of the batch (after the chained share) whose goal is an earlier frame of the step's own episode:
    a goal in the same scene that the data moved away from, bootstrapped like a chained goal (never a
    reward). They teach Q that a goal differing from the state in one object is not reached by matching
    the gripper (docs/learning.md). Needs use_chaining."""
    binary_gripper_terminate: bool = True
    """CEM samples and negative candidates hold the gripper and terminate components at -1 or +1, as every
    recorded action does (actionable_models.actions); False samples them continuously in [-1, 1]."""
    cem_iterations: int = 3
    """CEM iterations for max over next actions (and for the policy)."""
    cem_samples: int = 64
    """CEM samples per iteration."""
    cem_elites: int = 6
    """CEM elites refitted per iteration."""
    cem_init_std: float = 0.5
    """Std of CEM's first samples, around zero motion (then clipped to the box)."""
    target_cem_std: float = 0.0
    """0: the target's CEM max starts from N(0, cem_init_std^2), as the policy's does; > 0: from the action the data
    took next, its motion spread by this std (on/off components by 1): a max over the actions near the
    data's, where Q was trained, against the overestimation of actions no data rated."""
    relative_target_weight: float = 0.0
    """0: every data row's cross-entropy weighs the same (the paper). > 0: weighted by 1 / max(target, this
    floor), normalised to mean 1, so that far goals' small values are fitted to the same relative
    precision as near ones."""
    clipped_double_q: bool = False
    """QT-Opt's clipped double Q: a second target network that Polyak-averages the target (so lags it by
    about 1/target_tau more updates); bootstrapped targets take the smaller of the two at the chosen
    action, against the max's overestimation."""
    target_tau: float = 0.005
    """Polyak averaging rate of the target network."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    batch_size: int = 64
    """Transitions per update."""
    augment_pad: int = 4
    """Random-shift augmentation: pad by this many pixels, crop back at a random offset (0 disables)."""
    use_proprio: bool = False
    """Feed the measured proprioception of the current state beside the image: the gripper's pinch-point
    pose and its closure [x, y, z, yaw, closure] (5 numbers from /arm/ee_pose and /joint_states), scaled to
    about [-1, 1] by fixed constants of the cell's workspace (learning/proprio.py), not by data statistics.
    The goal gets none (a goal is an image only). From pixels alone the CEM argmax's gripper command agreed
    with the data's only at chance (docs/learning.md); the QT-Opt lineage feeds the gripper state the same
    way. Image networks only (late and early fusion); a policy of such a checkpoint needs the closure."""
    image_keypoints: int = 0
    """0: the image encoder flattens its last feature map (4 x 4 at 64 px) into the embedding. K > 0: it also
    reads K spatial-softmax keypoints (the expected image x and y of each of K learned feature maps at a
    quarter of the image size, Levine et al. 2016) beside it, so where a small object or the gripper is
    reaches the embedding as coordinates, as the state rung's positions do. Late and pair fusion."""
    seed: int = 0
    """Seed of sampling, augmentation and initialisation."""
    precision: str = "auto"
    """Arithmetic of the networks' forward and backward passes: 'bf16' (autocast to bfloat16; weights,
    optimiser and losses stay float32), 'fp32', or 'auto': bf16 where the device has fast bfloat16 units
    (a CPU with AVX-512 BF16 or AMX, a CUDA device that supports it), else fp32."""

    @property
    def binary_dims(self) -> tuple[int, ...]:
        """Action components that are on/off commands (gripper, terminate) when binary_gripper_terminate."""
        return tuple(range(self.motion_dims, self.action_dim)) if self.binary_gripper_terminate else ()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.chain_bootstrap not in CHAIN_BOOTSTRAPS:
            raise ConfigError(f"chain_bootstrap must be one of {CHAIN_BOOTSTRAPS}, got {self.chain_bootstrap!r}")
        if self.negative_scale not in ("probability", "logit"):
            raise ConfigError(f"negative_scale must be 'probability' or 'logit', got {self.negative_scale!r}")
        if self.relabel_bootstrap not in ("max", "logged"):
            raise ConfigError(f"relabel_bootstrap must be one of ('max', 'logged'), got {self.relabel_bootstrap!r}")
        if self.relabel_bootstrap == "logged" and self.chain_bootstrap != "logged":
            raise ConfigError("relabel_bootstrap 'logged' needs chain_bootstrap 'logged'")
        if self.chain_scope not in CHAIN_SCOPES:
            raise ConfigError(f"chain_scope must be one of {CHAIN_SCOPES}, got {self.chain_scope!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.image_size < 16 or self.image_size % 16:
            raise ConfigError(f"image_size must be a multiple of 16 and at least 16, got {self.image_size!r}")
        for name in ("gamma", "relabel_future_p", "target_tau"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= self.relative_target_weight < 1.0:
            raise ConfigError(f"relative_target_weight must be in [0, 1), got {self.relative_target_weight!r}")
        if not self.cem_init_std > 0.0:
            raise ConfigError(f"cem_init_std must be > 0, got {self.cem_init_std!r}")
        if not 0.0 <= self.target_cem_std:
            raise ConfigError(f"target_cem_std must be >= 0, got {self.target_cem_std!r}")
        if not 0.0 <= self.relabel_uniform_fraction <= 1.0:
            raise ConfigError(f"relabel_uniform_fraction must be in [0, 1], got {self.relabel_uniform_fraction!r}")
        if not 0.0 <= self.negative_cem_fraction <= 1.0:
            raise ConfigError(f"negative_cem_fraction must be in [0, 1], got {self.negative_cem_fraction!r}")
        if not 0.0 <= self.negative_motion_fraction <= 1.0:
            raise ConfigError(f"negative_motion_fraction must be in [0, 1], got {self.negative_motion_fraction!r}")
        if not 0.0 <= self.chain_fraction < 1.0:
            raise ConfigError(f"chain_fraction must be in [0, 1), got {self.chain_fraction!r}")
        if not 0.0 <= self.past_goal_fraction <= 1.0 - self.chain_fraction:
            raise ConfigError(f"past_goal_fraction must be in [0, 1 - chain_fraction], got {self.past_goal_fraction!r}")
        for name in ("n_step", "num_negatives", "negative_candidates", "cem_iterations", "cem_samples", "cem_elites",
                     "batch_size", "embed_dim", "action_dim", "motion_dims"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.cem_elites > self.cem_samples:
            raise ConfigError(f"cem_elites ({self.cem_elites}) must not exceed cem_samples ({self.cem_samples})")
        if self.num_negatives > self.negative_candidates:
            raise ConfigError(f"num_negatives ({self.num_negatives}) must not exceed negative_candidates "
                              f"({self.negative_candidates})")
        for name in ("negative_temperature", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        if isinstance(self.image_keypoints, bool) or not isinstance(self.image_keypoints, int) \
                or self.image_keypoints < 0:
            raise ConfigError(f"image_keypoints must be an integer >= 0, got {self.image_keypoints!r}")
        if self.image_keypoints and self.fusion == "early":
            raise ConfigError("image_keypoints is for the late- and pair-fusion image encoder; fusion is 'early'")
        if not isinstance(self.use_proprio, bool):
            raise ConfigError(f"use_proprio must be true or false, got {self.use_proprio!r}")
        if self.augment_pad < 0:
            raise ConfigError(f"augment_pad must be >= 0, got {self.augment_pad!r}")
