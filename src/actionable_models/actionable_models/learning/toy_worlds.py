"""Small non-image worlds for testing the learner: a grid of cells, one-hot states, five discrete moves.

The normalised action (any ``action_dim`` >= 2) is mapped to a move by its first two components, the rest
ignored: the larger of |a_x| and |a_y| picks the axis when it exceeds 1/3, else the agent stays. States
are one-hot over the open cells, so nothing about the grid's geometry is in the encoding: what the
Q-network knows about a (state, goal) pair it has learned from data, not read off coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from actionable_models.learning.cem import cem_maximize
from actionable_models.learning.sampler import Transitions

Cell = tuple[int, int]

MOVES = {"stay": (0, 0), "right": (1, 0), "left": (-1, 0), "up": (0, 1), "down": (0, -1)}
"""Move name -> (dx, dy); y grows upward (the first map row is the top)."""
DEAD_ZONE = 1.0 / 3.0
"""max(|a_x|, |a_y|) at or below this is no move."""
MOVE_SIZE = 0.7
"""|a| along the move's axis in data actions: inside the box, clear of the dead zone and the diagonals."""


def move_of(action: np.ndarray) -> str:
    """The move a normalised action makes: the dominant of a_x, a_y past the dead zone, else stay."""
    ax, ay = float(action[0]), float(action[1])
    if max(abs(ax), abs(ay)) <= DEAD_ZONE:
        return "stay"
    if abs(ax) >= abs(ay):
        return "right" if ax > 0 else "left"
    return "up" if ay > 0 else "down"


def action_of(move: str, action_dim: int, rng: np.random.Generator | None = None, noise: float = 0.0) -> np.ndarray:
    """A data action (action_dim,) for ``move``: MOVE_SIZE along its axis, zeros elsewhere, plus uniform
    noise of half-width ``noise`` on every component."""
    dx, dy = MOVES[move]
    action = np.zeros(action_dim, dtype=np.float32)
    action[0], action[1] = MOVE_SIZE * dx, MOVE_SIZE * dy
    if noise:
        action += rng.uniform(-noise, noise, action_dim).astype(np.float32)
    assert move_of(action) == move, (move, action)
    return action


def move_samples(move: str, action_dim: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform actions (count, action_dim) from the part of the box that makes ``move``."""
    out = []
    while sum(len(o) for o in out) < count:
        actions = rng.uniform(-1, 1, (4 * count, action_dim)).astype(np.float32)
        out.append(actions[[move_of(a) == move for a in actions]])
    return np.concatenate(out)[:count]


class GridWorld:
    """Cells from an ASCII map: '#' wall, anything else open, letters name cells, 'X' marks a pit.

    Moving into a wall or off the map stays put; a pit, once entered, is never left.
    """

    def __init__(self, rows: Sequence[str], action_dim: int = 6) -> None:
        if action_dim < 2:
            raise ValueError(f"action_dim must be at least 2 (a_x, a_y pick the move), got {action_dim}")
        self.action_dim = action_dim
        self.cells: list[Cell] = []
        self.names: dict[str, Cell] = {}
        self.pits: set[Cell] = set()
        for r, row in enumerate(rows):
            for x, ch in enumerate(row):
                if ch == "#":
                    continue
                cell = (x, len(rows) - 1 - r)
                self.cells.append(cell)
                if ch == "X":
                    self.pits.add(cell)
                elif ch.isalpha():
                    self.names[ch] = cell
        self.index = {cell: i for i, cell in enumerate(self.cells)}

    def __getitem__(self, name: str) -> Cell:
        return self.names[name]

    @property
    def state_dim(self) -> int:
        return len(self.cells)

    def step(self, cell: Cell, action: np.ndarray) -> Cell:
        """True dynamics: the cell after taking ``action`` in ``cell``."""
        if cell in self.pits:
            return cell
        dx, dy = MOVES[move_of(action)]
        nxt = (cell[0] + dx, cell[1] + dy)
        return nxt if nxt in self.index else cell

    def encode(self, cell: Cell) -> np.ndarray:
        """One-hot state vector (state_dim,) float32."""
        out = np.zeros(self.state_dim, dtype=np.float32)
        out[self.index[cell]] = 1.0
        return out

    def episode(self, start: Cell, moves: Sequence[str], rng: np.random.Generator,
                noise: float = 0.05) -> tuple[list[Cell], np.ndarray]:
        """Cells visited (len(moves) + 1) and actions (len(moves) + 1, the last one unused) of a scripted
        episode; the move 'any' is a uniform action over the whole box."""
        cells, actions = [start], []
        for move in moves:
            if move == "any":
                actions.append(rng.uniform(-1, 1, self.action_dim).astype(np.float32))
            else:
                actions.append(action_of(move, self.action_dim, rng, noise))
            cells.append(self.step(cells[-1], actions[-1]))
        actions.append(np.zeros(self.action_dim, dtype=np.float32))
        return cells, np.stack(actions)

    def transitions(self, episodes: Sequence[tuple[list[Cell], np.ndarray]]) -> Transitions:
        """Episodes (cells, actions) as the sampler's contiguous per-step arrays."""
        obs = np.concatenate([np.stack([self.encode(c) for c in cells]) for cells, _ in episodes])
        actions = np.concatenate([acts for _, acts in episodes])
        episode = np.concatenate([np.full(len(cells), i) for i, (cells, _) in enumerate(episodes)])
        is_last = np.concatenate([np.r_[np.zeros(len(cells) - 1, bool), True] for cells, _ in episodes])
        return Transitions(obs, actions, episode, is_last)

    @torch.no_grad()
    def q_values(self, q: torch.nn.Module, cell: Cell, goal: Cell, actions: np.ndarray) -> np.ndarray:
        """Q(cell, a, goal) as probabilities (K,) for actions (K, action_dim)."""
        embedding = q.embed(torch.as_tensor(self.encode(cell))[None], torch.as_tensor(self.encode(goal))[None])
        return torch.sigmoid(q.score(embedding, torch.as_tensor(actions)[None]))[0].numpy()

    @torch.no_grad()
    def greedy_action(self, q: torch.nn.Module, cell: Cell, goal: Cell, generator: torch.Generator,
                      iterations: int = 4, samples: int = 256, elites: int = 16) -> tuple[np.ndarray, float]:
        """argmax_a Q(cell, a, goal) by CEM, as the policy picks it: the action and its Q (a probability)."""
        embedding = q.embed(torch.as_tensor(self.encode(cell))[None], torch.as_tensor(self.encode(goal))[None])
        action, logit = cem_maximize(lambda acts: q.score(embedding, acts), 1, self.action_dim, iterations,
                                     samples, elites, generator=generator)
        return action[0].numpy(), float(torch.sigmoid(logit[0]))

    def rollout(self, q: torch.nn.Module, start: Cell, goal: Cell, steps: int, seed: int = 0) -> list[Cell]:
        """Cells the greedy CEM policy visits in the true dynamics, stopping at the goal."""
        generator = torch.Generator().manual_seed(seed)
        cells = [start]
        for _ in range(steps):
            if cells[-1] == goal:
                break
            action, _ = self.greedy_action(q, cells[-1], goal, generator)
            cells.append(self.step(cells[-1], action))
        return cells
