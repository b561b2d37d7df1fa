"""Q(s, a, g) in [0, 1] as logits: late fusion (fast, the default), early fusion (QT-Opt style) and pair
fusion (the images stacked, the actions scored as in late fusion).

Both map observation and goal images (B, 3, S, S) uint8 and actions (B, K, A) in [-1, 1] to logits
(B, K); Q = sigmoid(logit). With ``LearnerConfig.use_proprio`` they also take the observation's scaled
proprio (B, 5) (learning/proprio.py: measured gripper pose and closure); the goal never has one. Late
fusion encodes each image once and scores the K actions with a small head, so negatives and CEM samples
cost little; early fusion stacks goal and observation, merges the action into the conv features
half-way, and so runs the upper convs once per action.
"""

from __future__ import annotations

import torch
from torch import nn

from actionable_models.errors import ConfigError
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.proprio import PROPRIO_DIM

PROPRIO_WIDTH = 64
"""Width of the proprio encoding fused beside the image embeddings."""


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0 - 0.5


def embed(q: nn.Module, obs: torch.Tensor, goal: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
    """``q.embed(obs, goal)``, with the observation's proprio when there is one: networks built without
    use_proprio (and any network with the two-argument ``embed``, such as VectorLateFusionQ) are called as
    before."""
    return q.embed(obs, goal) if proprio is None else q.embed(obs, goal, proprio)


def _proprio_encoder(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(PROPRIO_DIM, width), nn.ReLU(inplace=True), nn.Linear(width, width),
                         nn.ReLU(inplace=True))


def _check_proprio(network: nn.Module, proprio: torch.Tensor | None, batch: int) -> None:
    if network.proprio is None:
        if proprio is not None:
            raise ValueError("this Q-network was built without use_proprio; it takes no proprio input")
        return
    if proprio is None:
        raise ValueError("this Q-network was built with use_proprio: embed() needs the observation's proprio "
                         f"(B, {PROPRIO_DIM}): measured x, y, z, yaw and gripper closure (learning/proprio.py)")
    if proprio.shape != (batch, PROPRIO_DIM):
        raise ValueError(f"proprio must be ({batch}, {PROPRIO_DIM}), got {tuple(proprio.shape)}")


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU(inplace=True))


class ImageEncoder(nn.Module):
    """Four stride-2 convs and a linear layer: (B, C, S, S) uint8 -> (B, D). With ``keypoints`` K > 0 the
    linear layer also reads K spatial-softmax keypoints of the second conv's map (:class:`SpatialSoftmax`)."""

    def __init__(self, image_size: int, embed_dim: int, keypoints: int = 0, channels: int = 3) -> None:
        super().__init__()
        self.convs = nn.Sequential(_conv(channels, 32), _conv(32, 64), _conv(64, 64), _conv(64, 64))
        side = image_size // 16
        self.out = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side + 2 * keypoints, embed_dim),
                                 nn.LayerNorm(embed_dim), nn.ReLU(inplace=True))
        # Channels-last convolutions: oneDNN's fast layout on CPU (forward and backward of 128 images at
        # 64 px in bf16: 41 ms against 64 ms); the values are the same, only their order in memory.
        self.convs.to(memory_format=torch.channels_last)
        # Built last, so that an encoder without keypoints initialises exactly as before from the same seed.
        self.keypoints = SpatialSoftmax(64, keypoints) if keypoints else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _to_float(images).contiguous(memory_format=torch.channels_last)
        if self.keypoints is None:
            return self.out(self.convs(x))
        early = self.convs[1](self.convs[0](x))
        flat = self.out[0](self.convs[3](self.convs[2](early)))
        return self.out[1:](torch.cat([flat, self.keypoints(early).to(flat.dtype)], dim=-1))


class SpatialSoftmax(nn.Module):
    """K keypoints of a feature map (B, C, H, W): a 1x1 conv to K maps, a softmax over each map's positions
    (with a learned temperature), and each map's expected (x, y) in [-1, 1]: (B, 2K). A small object moves
    its keypoint by its displacement, where a flattened map only changes which weights it meets."""

    def __init__(self, channels: int, keypoints: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(channels, keypoints, 1)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.project(features).float()  # the softmax in float32 also under bf16 autocast
        b, k, h, w = maps.shape
        weights = torch.softmax(maps.reshape(b, k, h * w) / self.log_temperature.exp(), dim=-1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=maps.device),
                                torch.linspace(-1, 1, w, device=maps.device), indexing="ij")
        grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)  # (H * W, 2)
        return (weights @ grid).reshape(b, 2 * k)


class LateFusionQ(nn.Module):
    """Shared image encoder for observation and goal, a state-goal embedding, an MLP head over actions.

    With ``use_proprio`` a small MLP encodes the observation's proprio (5 -> 64 -> 64) and the fusion
    layer reads it beside [z_obs, z_goal, z_obs * z_goal]."""

    def __init__(self, config: LearnerConfig, encoder: nn.Module | None = None) -> None:
        super().__init__()
        d = config.embed_dim
        self.encoder = encoder if encoder is not None else ImageEncoder(config.image_size, d,
                                                                        config.image_keypoints)
        extra = PROPRIO_WIDTH if config.use_proprio else 0
        self.fuse = nn.Sequential(nn.Linear(3 * d + extra, d), nn.ReLU(inplace=True))
        # The head's first layer on [embedding, action], split in two: the embedding's share is computed
        # once per state (in embed), only the small action share once per scored action.
        self.head_state = nn.Linear(d, d)
        self.head_action = nn.Linear(config.action_dim, d, bias=False)
        self.head = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, 1))
        # Built last, so that a network without it initialises exactly as before from the same seed.
        self.proprio = _proprio_encoder(PROPRIO_WIDTH) if config.use_proprio else None

    def embed(self, obs: torch.Tensor, goal: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """State-goal embedding (B, D): computed once, reused for every action scored. ``proprio`` (B, 5):
        the observation's scaled proprio, required with use_proprio and refused without."""
        _check_proprio(self, proprio, obs.shape[0])
        z_obs, z_goal = self.encoder(obs), self.encoder(goal)
        parts = [z_obs, z_goal, z_obs * z_goal]
        if proprio is not None:
            parts.append(self.proprio(proprio.float()).to(z_obs.dtype))
        return self.head_state(self.fuse(torch.cat(parts, dim=-1)))

    def score(self, embedding: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of actions (B, K, A) under embeddings (B, D)."""
        # embedding + actions @ W^T in one batched matmul-add (B, K, D): as a Linear over (B * K, 6) and an
        # add, the 6-wide matmul and the extra pass over (B, K, D) took 40 % of a state-learner update in
        # bf16 (an interleaved A/B on one core: 24 against 40 updates/s at batch 128; the sum is the same).
        weight = self.head_action.weight.t().expand(actions.shape[0], -1, -1)  # (B, A, D)
        hidden = torch.baddbmm(embedding.unsqueeze(1), actions, weight)
        return self.head(hidden).squeeze(-1)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, actions: torch.Tensor,
                proprio: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(embed(self, obs, goal, proprio), actions)


class PairFusionQ(LateFusionQ):
    """Observation and goal stacked (6 channels) through one encoder; the action head of LateFusionQ.

    The convs see both images at each pixel, so "this object is here now and there in the goal" is a
    local feature, as in early fusion, while each action scored costs only the small head, as in late
    fusion. One encoder pass per (observation, goal) pair instead of one per image."""

    def __init__(self, config: LearnerConfig) -> None:
        super().__init__(config, ImageEncoder(config.image_size, config.embed_dim, config.image_keypoints, 6))
        d = config.embed_dim
        self.fuse = nn.Sequential(nn.Linear(d + (PROPRIO_WIDTH if config.use_proprio else 0), d),
                                  nn.ReLU(inplace=True))

    def embed(self, obs: torch.Tensor, goal: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """State-goal embedding (B, D) of the stacked pair; ``proprio`` as in LateFusionQ.embed."""
        _check_proprio(self, proprio, obs.shape[0])
        z = self.encoder(torch.cat([obs, goal], dim=1))
        parts = [z] if proprio is None else [z, self.proprio(proprio.float()).to(z.dtype)]
        return self.head_state(self.fuse(torch.cat(parts, dim=-1)))


class EarlyFusionQ(nn.Module):
    """Goal and observation stacked (6 channels); the action is added to the conv features half-way."""

    def __init__(self, config: LearnerConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.lower = nn.Sequential(_conv(6, 32), _conv(32, 64))
        self.action_in = nn.Linear(config.action_dim, 64)
        self.upper = nn.Sequential(_conv(64, 64), _conv(64, 64))
        side = config.image_size // 16
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, d), nn.ReLU(inplace=True),
                                  nn.Linear(d, 1))
        # With use_proprio: the proprio, encoded (5 -> 64 -> 64), is added to every position of the lower
        # features, as the action is; built last so that a network without it initialises as before.
        self.proprio = _proprio_encoder(64) if config.use_proprio else None

    def embed(self, obs: torch.Tensor, goal: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """The action-free lower conv features (B, 64, S/4, S/4), plus the observation's encoded proprio
        (B, 5) at every position with use_proprio."""
        _check_proprio(self, proprio, obs.shape[0])
        features = self.lower(torch.cat([_to_float(obs), _to_float(goal)], dim=1))
        if proprio is not None:
            features = features + self.proprio(proprio.float()).to(features.dtype)[..., None, None]
        return features

    def score(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Logits (B, K): the upper convs run once per action."""
        b, k, _ = actions.shape
        x = features.unsqueeze(1) + self.action_in(actions)[..., None, None]  # (B, K, 64, h, w)
        x = self.upper(x.flatten(0, 1))
        return self.head(x).view(b, k)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, actions: torch.Tensor,
                proprio: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(embed(self, obs, goal, proprio), actions)


def _vector_encoder(state_dim: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(state_dim, d), nn.ReLU(inplace=True), nn.Linear(d, d), nn.ReLU(inplace=True))


def _refuse_proprio(config: LearnerConfig) -> None:
    if config.use_proprio:
        raise ConfigError("use_proprio is for the image networks (fusion 'late' or 'early'); a state "
                          "vector already holds the gripper's pose and closure")


class VectorLateFusionQ(LateFusionQ):
    """Late fusion over state vectors (B, F) instead of images: small worlds in tests and ablations.

    ``goal_difference``: the fusion's third input is an encoding of goal - state instead of the product
    of the two encodings, so that what differs (one object's height, say) is an input, not something the
    encoders must learn to keep."""

    def __init__(self, config: LearnerConfig, state_dim: int, goal_difference: bool = False) -> None:
        _refuse_proprio(config)
        d = config.embed_dim
        super().__init__(config, _vector_encoder(state_dim, d))
        self.difference = _vector_encoder(state_dim, d) if goal_difference else None

    def embed(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        obs, goal = obs.float(), goal.float()
        if self.difference is None:
            return super().embed(obs, goal)
        z_obs, z_goal = self.encoder(obs), self.encoder(goal)
        return self.head_state(self.fuse(torch.cat([z_obs, z_goal, self.difference(goal - obs)], dim=-1)))


class ObjectCentricVectorQ(LateFusionQ):
    """Late fusion over state vectors laid out as the state rung's (the gripper's ``gripper_dim`` values, then
    ``object_dim`` per object), with one encoder shared by every object, as a CNN's filters are shared by
    every image position.

    Each object's row is [its values in the observation, in the goal, their difference, its position
    relative to the pinch point in both, a one-hot of its slot]; the same MLP encodes every row and the
    encodings are summed, beside an encoding of the gripper's values in observation, goal and their
    difference. A goal that moves one object then reads, in that object's row alone, where it is and
    where the gripper must go; an MLP over the whole vector must learn that routing separately for each
    slot. A state-rung diagnostic: the policy node's networks see images."""

    def __init__(self, config: LearnerConfig, state_dim: int, gripper_dim: int = 5, object_dim: int = 7) -> None:
        _refuse_proprio(config)
        super().__init__(config, nn.Identity())
        add_object_centric_encoder(self, state_dim, config.embed_dim, gripper_dim, object_dim)

    def embed(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.head_state(object_centric_embedding(self, obs, goal))


class ObjectActionQ(ObjectCentricVectorQ):
    """ObjectCentricVectorQ whose action also meets every object's encoding, as QT-Opt's network (the
    paper's) merges the action into its conv features at every image position.

    Late fusion adds the action to one summed state-goal embedding, so ranking two nearby motions by where
    each leaves the pinch point relative to the goal's object has to be untangled from that sum by the head.
    Here each object's encoding is projected to a ``width``-wide key u_i (in ``embed``), and every scored
    action a meets each key: h_i = MLP(ReLU(u_i + W a)), summed over the objects and added to the head's
    hidden layer. The objects' sum comes before the last (linear) projection, so a scored action costs
    N small MLPs, not N heads. ``embed`` returns [late-fusion embedding (D), keys (N * width)] as one (B, .)
    tensor, so every caller that embeds once and scores many actions (CEM, negatives, ensembles) is
    unchanged. A state-rung diagnostic, as ObjectCentricVectorQ."""

    def __init__(self, config: LearnerConfig, state_dim: int, width: int = 64, gripper_dim: int = 5,
                 object_dim: int = 7) -> None:
        super().__init__(config, state_dim, gripper_dim, object_dim)
        d = config.embed_dim
        self.width = width
        self.object_key = nn.Linear(d, width)
        self.object_action = nn.Linear(config.action_dim, width, bias=False)
        self.object_mlp = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True))
        self.object_out = nn.Linear(width, d, bias=False)

    def embed(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        objects, gripper = object_centric_parts(self, obs, goal)
        embedding = self.head_state(self.fuse(objects.sum(dim=1) + gripper))
        return torch.cat([embedding, self.object_key(objects).flatten(1)], dim=-1)

    def score(self, embedding: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        d = self.head_state.out_features
        keys = embedding[:, d:].unflatten(1, (self.objects, self.width))  # (B, N, W)
        weight = self.head_action.weight.t().expand(actions.shape[0], -1, -1)  # (B, A, D)
        hidden = torch.baddbmm(embedding[:, :d].unsqueeze(1), actions, weight)  # (B, K, D)
        meet = keys.unsqueeze(1) + self.object_action(actions).unsqueeze(2)  # (B, K, N, W)
        hidden = hidden + self.object_out(self.object_mlp(meet).sum(dim=2))
        return self.head(hidden).squeeze(-1)


def add_object_centric_encoder(module: nn.Module, state_dim: int, d: int, gripper_dim: int = 5,
                               object_dim: int = 7) -> None:
    """Give ``module`` the layers of :func:`object_centric_embedding` (ObjectCentricVectorQ's layout)."""
    if state_dim <= gripper_dim or (state_dim - gripper_dim) % object_dim:
        raise ConfigError(f"state_dim {state_dim} is not {gripper_dim} gripper values and a whole number of "
                          f"{object_dim}-value objects")
    module.gripper_dim, module.object_dim = gripper_dim, object_dim
    module.objects = (state_dim - gripper_dim) // object_dim
    module.object_encoder = _vector_encoder(3 * object_dim + 6 + module.objects, d)
    module.gripper_encoder = _vector_encoder(3 * gripper_dim, d)
    module.fuse = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True))
    module.register_buffer("slots", torch.eye(module.objects), persistent=False)


def object_centric_embedding(module: nn.Module, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """(B, D) from state vectors (B, F): every object's row through the one shared encoder, summed, plus the
    gripper's encoding (the layers :func:`add_object_centric_encoder` gave ``module``)."""
    objects, gripper = object_centric_parts(module, obs, goal)
    return module.fuse(objects.sum(dim=1) + gripper)


def object_centric_parts(module: nn.Module, obs: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encodings :func:`object_centric_embedding` sums: every object's (B, N, D) and the gripper's (B, D)."""
    obs, goal = obs.float(), goal.float()
    g, k = module.gripper_dim, module.object_dim
    ee_obs, ee_goal = obs[:, :g], goal[:, :g]
    o_obs = obs[:, g:].unflatten(1, (module.objects, k))  # (B, N, K)
    o_goal = goal[:, g:].unflatten(1, (module.objects, k))
    rows = torch.cat([o_obs, o_goal, o_goal - o_obs, o_obs[..., :3] - ee_obs[:, None, :3],
                      o_goal[..., :3] - ee_goal[:, None, :3], module.slots.expand(len(obs), -1, -1)], dim=-1)
    return module.object_encoder(rows), module.gripper_encoder(torch.cat([ee_obs, ee_goal, ee_goal - ee_obs], dim=-1))


def make_q_network(config: LearnerConfig) -> nn.Module:
    """The Q-network the config asks for."""
    return {"late": LateFusionQ, "early": EarlyFusionQ, "pair": PairFusionQ}[config.fusion](config)
