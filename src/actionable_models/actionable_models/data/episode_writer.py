"""Writes one episode as a rosbag2 bag (MCAP storage) from already-serialized CDR messages.

A recorder hands over the bytes it received from DDS, so nothing is deserialized or re-encoded on the
hot path. The episode directory is created fresh (an existing one is never touched); a marker file sits
in it until the bag is closed, so a crash leaves the broken episode clearly marked and every earlier
episode complete.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from rosbags.rosbag2 import Writer
from rosbags.rosbag2.writer import StoragePlugin
from rosbags.typesys import Stores, get_typestore

from actionable_models.data import keys
from actionable_models.errors import ActionableModelsError

_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
_EPISODE_RE = re.compile(rf"^{keys.EPISODE_DIR_PREFIX}(\d+)")


class RecordingError(ActionableModelsError, OSError):
    """An episode could not be written (disk full, permissions, an existing directory)."""


def next_episode_index(root: Path) -> int:
    """One past the highest episode index in ``root`` (complete, incomplete or renamed): never reuses one."""
    indices = [int(m.group(1)) for p in root.iterdir() if (m := _EPISODE_RE.match(p.name))] if root.is_dir() else []
    return max(indices, default=-1) + 1


def incomplete_episodes(root: Path) -> list[Path]:
    """Episode directories a recorder left open (crash or kill mid-episode)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _EPISODE_RE.match(p.name) and (p / keys.RECORDING_MARKER).exists())


class EpisodeWriter:
    """One open episode bag. ``write`` CDR bytes as they arrive, then ``close`` (or ``abandon`` after an error)."""

    def __init__(self, root: Path, index: int, metadata: dict[str, str],
                 topics: dict[str, str] | None = None) -> None:
        self.path = Path(root) / keys.episode_dir_name(index)
        self.index = index
        self.metadata = {keys.META_EPISODE: str(index), keys.META_STARTED: str(time.time_ns()),
                         **{k: str(v) for k, v in metadata.items()}}
        self.counts: dict[str, int] = {}
        self.bytes_written = 0
        self._writer: Writer | None = None
        self._connections = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                raise RecordingError(f"{self.path} already exists; episodes are never overwritten")
            writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
            writer.open()
            for topic, msgtype in (topics or keys.RECORDED_TOPICS).items():
                self._connections[topic] = writer.add_connection(topic, msgtype, typestore=_TYPESTORE)
            (self.path / keys.RECORDING_MARKER).write_text("recording; removed when the episode is closed\n")
        except OSError as exc:
            if isinstance(exc, RecordingError):
                raise
            raise RecordingError(f"cannot start episode {self.path}: {exc}") from exc
        self._writer = writer
        self.counts = {topic: 0 for topic in self._connections}

    @property
    def is_open(self) -> bool:
        """True until closed or abandoned."""
        return self._writer is not None

    def write(self, topic: str, timestamp_ns: int, cdr: bytes | memoryview) -> None:
        """Append one serialized message received at ``timestamp_ns``."""
        if self._writer is None:
            raise RecordingError(f"episode {self.path} is not open")
        try:
            self._writer.write(self._connections[topic], timestamp_ns, cdr)
        except OSError as exc:
            self.abandon()
            raise RecordingError(f"writing {topic} to {self.path} failed: {exc}") from exc
        self.counts[topic] += 1
        self.bytes_written += len(cdr)

    def abandon(self) -> None:
        """Close the files without finishing the bag (after a write error): the marker stays, nothing more
        is written, earlier episodes are untouched."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.abort()
            except OSError:
                pass  # the disk that failed the write may fail this too; the marker already says it all

    def close(self, outcome: str = "unknown", extra: dict[str, str] | None = None) -> Path:
        """Finish the bag: metadata (custom data) into metadata.yaml, marker removed. Returns the path."""
        if self._writer is None:
            return self.path
        writer, self._writer = self._writer, None
        try:
            for key, value in {**self.metadata, keys.META_OUTCOME: outcome, **(extra or {})}.items():
                writer.set_custom_data(key, str(value))
            writer.close()
            (self.path / keys.RECORDING_MARKER).unlink(missing_ok=True)
        except OSError as exc:
            raise RecordingError(f"closing episode {self.path} failed: {exc}; it stays marked incomplete") from exc
        return self.path
