"""The Actionable Models learner: goal-conditioned Q-network, relabeling, negatives, chaining, CEM."""
