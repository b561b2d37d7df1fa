"""The recorder node: one rosbag2 bag (MCAP) per episode, from the topics a learner needs.

Records keys.RECORDED_TOPICS (camera with sensor-data QoS, camera info, measured end-effector pose,
joint states, pose and gripper commands) as the serialized bytes DDS delivers, stamped with the
wall-clock receive time; header stamps inside keep the sensor time.

Episodes start and stop on /am/episode events (std_msgs/String JSON, from a collector:
``{"event": "start", "task": ..., "seed": ..., "collector": ..., "layout": ...}`` and
``{"event": "stop", "outcome": ...}``) or on the services ``~/start_episode`` and ``~/stop_episode``
(std_srvs/Trigger; metadata from the ``task`` and ``collector`` parameters), so a person driving a real
arm can record too. ``/am/recorder/status`` (latched JSON) says whether an episode is open.

Data safety: an episode directory is never reused; a bag is closed cleanly when the node is destroyed
(Ctrl-C, SIGTERM through the runner or ``ros2 run``); a crash leaves earlier episodes complete and the
open one marked by keys.RECORDING_MARKER; a write error (disk full) closes nothing half-way silently: it
is logged with the path, the episode is marked failed and recording stops.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from actionable_models.data import keys
from am_common.messages import LATCHED
from am_common.params import check_choice, declare_parameters, refuse_unknown_parameters, run_node
from actionable_models.data.episode_writer import (EpisodeWriter, RecordingError, incomplete_episodes,
                                                   next_episode_index)

RELIABLE_DEEP = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE)
# Sensor-data QoS (best effort, matches camera drivers) with a deep queue: a burst of disk writes must
# not push frames out of a 5-deep history.
SENSOR_DEEP = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.BEST_EFFORT,
                         durability=QoSDurabilityPolicy.VOLATILE)
SENSOR_TOPICS = (*keys.CAMERA_TOPICS, keys.CAMERA_INFO)


def message_class(msgtype: str) -> type:
    """The rclpy message class of a type name like 'sensor_msgs/msg/Image'."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class RecorderNode(Node):
    """Writes each episode to ``output_dir/episode_NNNNNN/`` as a rosbag2 bag."""

    def __init__(self, node_name: str = "recorder", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # camera_reliability: best_effort matches every camera (sensor-data QoS drivers too); reliable makes
        # DDS resend lost frames but only matches a camera that publishes reliably.
        p = declare_parameters(self, {"output_dir": "data/episodes", "task": "manual", "collector": "human",
                                      "camera_reliability": "best_effort"})
        refuse_unknown_parameters(self)
        camera_reliability = check_choice("camera_reliability", p["camera_reliability"], ("best_effort", "reliable"))
        camera_qos = SENSOR_DEEP if camera_reliability == "best_effort" else RELIABLE_DEEP
        self.output_dir = Path(p["output_dir"])
        self.episode: EpisodeWriter | None = None
        self.closed: list[Path] = []
        self.dropped_idle = 0  # messages that arrived while no episode was open

        for broken in incomplete_episodes(self.output_dir):
            self.get_logger().warning(f"{broken} was left open by an earlier recorder (crash or kill); "
                                      "it is kept as it is and marked incomplete")
        for topic, msgtype in keys.RECORDED_TOPICS.items():
            qos = camera_qos if topic in SENSOR_TOPICS else RELIABLE_DEEP
            self.create_subscription(message_class(msgtype), topic, self._writer_for(topic), qos, raw=True)
        self.create_subscription(String, keys.EPISODE_EVENTS, self._on_event, RELIABLE_DEEP)
        self.status_pub = self.create_publisher(String, "/am/recorder/status", LATCHED)
        self.create_service(Trigger, "~/start_episode", self._on_start_service)
        self.create_service(Trigger, "~/stop_episode", self._on_stop_service)
        self._publish_status()
        self.get_logger().info(f"recorder ready: episodes go to {self.output_dir.resolve()}")

    # --------------------------------------------------------------------------------------- messages
    def _writer_for(self, topic: str):
        def write(cdr: bytes) -> None:
            if self.episode is None:
                self.dropped_idle += 1
                return
            try:
                self.episode.write(topic, time.time_ns(), cdr)
            except RecordingError as exc:
                self._fail(exc)
        return write

    # --------------------------------------------------------------------------------- start and stop
    def start_episode(self, metadata: dict[str, str]) -> Path | None:
        """Open a new episode bag; an open one is closed first (outcome 'superseded')."""
        if self.episode is not None:
            self.get_logger().warning(f"episode {self.episode.path} was still open: closing it first")
            self.stop_episode("superseded")
        try:
            self.episode = EpisodeWriter(self.output_dir, next_episode_index(self.output_dir), metadata)
        except RecordingError as exc:
            self.get_logger().error(f"cannot start an episode: {exc}")
            self._publish_status()
            return None
        self.get_logger().info(f"recording {self.episode.path.name} ({metadata})")
        self._publish_status()
        return self.episode.path

    def stop_episode(self, outcome: str = "unknown", extra: dict[str, str] | None = None) -> Path | None:
        """Close the open episode with its outcome; returns its path (None when none was open)."""
        if self.episode is None:
            return None
        episode, self.episode = self.episode, None
        try:
            path = episode.close(outcome, extra)
        except RecordingError as exc:
            self.get_logger().error(str(exc))
            self._publish_status()
            return None
        self.closed.append(path)
        counts = ", ".join(f"{t}: {n}" for t, n in episode.counts.items())
        self.get_logger().info(f"closed {path.name} ({outcome}; {counts})")
        self._publish_status(last=path)
        return path

    def _fail(self, exc: RecordingError) -> None:
        episode, self.episode = self.episode, None  # its writer abandoned itself: files closed, marker kept
        self.get_logger().error(f"recording stopped: {exc}. Earlier episodes are complete; {episode.path} "
                                "stays marked incomplete. Free disk space and start a new episode.")
        self._publish_status()

    def _on_event(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
            kind = event["event"]
        except (ValueError, KeyError, TypeError):
            self.get_logger().error(f"ignored {keys.EPISODE_EVENTS} message that is not a JSON event with an "
                                    f"'event' field: {msg.data[:200]!r}")
            return
        if kind == "start":
            meta = {keys.META_TASK: event.get("task", "unknown"), keys.META_SEED: event.get("seed", ""),
                    keys.META_COLLECTOR: event.get("collector", "unknown"),
                    keys.META_LAYOUT: event.get("layout", "")}
            self.start_episode({k: str(v) for k, v in meta.items()})
        elif kind == "stop":
            extra = {keys.META_PREFIX + k: json.dumps(v) if not isinstance(v, str) else v
                     for k, v in event.get("extra", {}).items()}
            self.stop_episode(str(event.get("outcome", "unknown")), extra)
        else:
            self.get_logger().error(f"ignored episode event {kind!r}: expected 'start' or 'stop'")

    def _on_start_service(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.start_episode({keys.META_TASK: self.get_parameter("task").value,
                                   keys.META_COLLECTOR: self.get_parameter("collector").value})
        response.success, response.message = path is not None, str(path) if path else "could not start"
        return response

    def _on_stop_service(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.stop_episode("manual_stop")
        response.success, response.message = path is not None, str(path) if path else "no episode was open"
        return response

    def _publish_status(self, last: Path | None = None) -> None:
        if not self.context.ok():
            return  # shutting down after the context (ros2 run on Ctrl-C): the bag matters, not the status
        status = {"recording": self.episode is not None,
                  "episode": str(self.episode.path) if self.episode else None,
                  "last_closed": str(last or (self.closed[-1] if self.closed else "")) or None,
                  "closed_count": len(self.closed)}
        self.status_pub.publish(String(data=json.dumps(status)))

    def destroy_node(self) -> None:
        """Close an open episode cleanly before going away (Ctrl-C, SIGTERM, end of a run)."""
        if self.episode is not None:
            self.stop_episode("interrupted")
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_dataset_recorder recorder_node``."""
    return run_node("recorder", RecorderNode, args)
