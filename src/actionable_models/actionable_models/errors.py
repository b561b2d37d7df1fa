"""The few exception classes of the core library. Messages say what went wrong and what to do."""


class ActionableModelsError(Exception):
    """Base class of every error the core raises on bad input."""


class ConfigError(ActionableModelsError, ValueError):
    """A configuration field has a bad value; the message names the field and the value."""


class UnknownNameError(ActionableModelsError, KeyError):
    """A task, layout, object or configuration name that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class RenderError(ActionableModelsError, RuntimeError):
    """The headless renderer could not be started."""


class GoalGenerationError(ActionableModelsError, RuntimeError):
    """The scripted controller failed to drive the scene into the requested goal state."""
