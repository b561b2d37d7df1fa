"""The goal-reaching policy node."""
