"""The sim node: the MuJoCo cell behind the topics a real arm driver and camera offer.

Publishes /camera/image_raw (rgb8, sensor-data QoS; or, with ``image_transport`` compressed or both,
/camera/image_raw/compressed: a jpeg or png CompressedImage as image_transport's compressed plugin sends it),
/camera/camera_info, /arm/ee_pose, /joint_states,
/clock and the privileged /sim/privileged_state (JSON, for scripted controllers and evaluation only).
Subscribes /arm/cartesian_cmd (PoseStamped in the base frame) and /arm/gripper_cmd (Float64, 0 open ..
1 closed). Service /sim/reset (std_srvs/Trigger) resets the scene from the ``seed`` and ``layout``
parameters.

Timing modes (parameter ``mode``):
- ``realtime``: a wall-clock timer steps the cell at the control rate, holding the latest commands.
- ``lockstep``: each pose command advances exactly one control step, as fast as the CPU allows. A
  gripper command sent with it applies to the same step: the node waits ``lockstep_gripper_wait_s`` for
  it, so a controller that publishes both gets deterministic steps whatever order DDS delivers them in.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.time import Time
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger

from actionable_models.data import keys
from actionable_models.errors import ActionableModelsError
from actionable_models.imaging import COMPRESSED_FORMATS, rgb_to_compressed_fields, rgb_to_image_fields
from actionable_models.sim.cell import Cell
from actionable_models.sim.commands import check_gripper_command, check_pose_command
from actionable_models.sim.config import CellConfig
from am_common.messages import LATCHED, pose_stamped
from am_common.params import (ParameterError, check_choice, declare_config, declare_parameters, read_config,
                              refuse_unknown_parameters, run_node)

MODES = ("realtime", "lockstep")


class SimCellNode(Node):
    """ROS 2 face of :class:`actionable_models.sim.cell.Cell`."""

    def __init__(self, node_name: str = "sim_cell", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, CellConfig)
        p = declare_parameters(self, {"mode": "realtime", "seed": 0, "frame_id": "base_link",
                                      "camera_frame_id": "shoulder_camera_optical_frame",
                                      "lockstep_gripper_wait_s": 0.05, "publish_privileged_state": True,
                                      "image_transport": "raw", "compressed_format": "jpeg", "jpeg_quality": 90})
        refuse_unknown_parameters(self)
        self.config = read_config(self, CellConfig)
        self.mode = check_choice("mode", p["mode"], MODES)
        self.frame_id = p["frame_id"]
        self.camera_frame_id = p["camera_frame_id"]
        self._gripper_wait = p["lockstep_gripper_wait_s"]
        self._publish_privileged = p["publish_privileged_state"]
        # raw: sensor_msgs/Image on /camera/image_raw; compressed: CompressedImage on its /compressed topic,
        # as image_transport's compressed plugin publishes it; both: the two.
        self._transport = check_choice("image_transport", p["image_transport"], ("raw", "compressed", "both"))
        self._compressed_format = check_choice("compressed_format", p["compressed_format"], COMPRESSED_FORMATS)
        if not 1 <= p["jpeg_quality"] <= 100:
            raise ParameterError(f"parameter jpeg_quality must be in 1..100, got {p['jpeg_quality']}")
        self._jpeg_quality = p["jpeg_quality"]

        self.cell = Cell(self.config)
        self.cell.reset(self.get_parameter("seed").value, self.config.layout)
        self._sim_time_ns = 0  # monotonic across resets, unlike the cell's episode time
        self._resets = 0
        self._pending_pose = False
        self._gripper_fresh = False
        self._gripper_timer = None  # lock-step: how long a pose command waits for its gripper command

        group = MutuallyExclusiveCallbackGroup()
        self.image_pub = self.create_publisher(Image, keys.IMAGE, qos_profile_sensor_data)
        self.compressed_pub = self.create_publisher(CompressedImage, keys.IMAGE_COMPRESSED, qos_profile_sensor_data)
        self.info_pub = self.create_publisher(CameraInfo, "/camera/camera_info", qos_profile_sensor_data)
        self.pose_pub = self.create_publisher(PoseStamped, "/arm/ee_pose", 10)
        self.joint_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.state_pub = self.create_publisher(String, "/sim/privileged_state", LATCHED)
        # Gripper first: when both commands are waiting, the executor serves subscriptions in creation
        # order, so a lock-step pose then steps at once instead of arming the gripper-wait timer.
        self.create_subscription(Float64, "/arm/gripper_cmd", self._on_gripper_cmd, 10, callback_group=group)
        self.create_subscription(PoseStamped, "/arm/cartesian_cmd", self._on_pose_cmd, 10, callback_group=group)
        self.create_service(Trigger, "/sim/reset", self._on_reset, callback_group=group)
        if self.mode == "realtime":
            self.create_timer(self.config.control_period, self._step_and_publish, callback_group=group)
        else:
            # One persistent timer, reset per command: creating timers per step would rebuild the
            # executor's wait set every step.
            self._gripper_timer = self.create_timer(max(self._gripper_wait, 1e-3), self._on_gripper_wait_over,
                                                    callback_group=group)
            self._gripper_timer.cancel()
        self._publish()
        self.get_logger().info(
            f"sim cell ready: mode={self.mode}, layout={self.cell.layout.name}, seed={self.cell.seed}, "
            f"camera {self.config.image_width}x{self.config.image_height}, {self.config.control_rate_hz:g} Hz")

    # -------------------------------------------------------------------------------------- commands
    def _on_pose_cmd(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        checked = check_pose_command(np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]),
                                     msg.header.frame_id, self.frame_id, self.config)
        for problem in checked.problems:
            self.get_logger().error(problem)
        if not checked.accepted:
            return
        self.cell.set_command(checked.pos, checked.yaw)
        if self.mode != "lockstep":
            return
        if self._gripper_fresh or self._gripper_wait <= 0:
            self._lockstep_step()
        else:
            self._pending_pose = True
            self._gripper_timer.reset()

    def _on_gripper_cmd(self, msg: Float64) -> None:
        checked = check_gripper_command(msg.data)
        for problem in checked.problems:
            self.get_logger().error(problem)
        if not checked.accepted:
            return
        self.cell.set_gripper(checked.value)
        self._gripper_fresh = True
        if self.mode == "lockstep" and self._pending_pose:
            self._lockstep_step()

    def _on_gripper_wait_over(self) -> None:
        self._gripper_timer.cancel()
        if self._pending_pose:
            self._lockstep_step()

    def _lockstep_step(self) -> None:
        self._gripper_timer.cancel()
        self._pending_pose = False
        self._gripper_fresh = False
        self._step_and_publish()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        seed = self.get_parameter("seed").value
        layout = self.get_parameter("layout").value
        try:
            self.cell.reset(seed, layout)
        except ActionableModelsError as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().error(f"reset refused: {exc}")
            return response
        self._resets += 1
        self._pending_pose = self._gripper_fresh = False
        if self._gripper_timer is not None:
            self._gripper_timer.cancel()
        self._sim_time_ns += int(round(self.config.control_period * 1e9))
        self._publish()
        response.success = True
        response.message = f"reset: seed={seed} layout={layout}"
        self.get_logger().info(response.message)
        return response

    # ----------------------------------------------------------------------------------------- output
    def _step_and_publish(self) -> None:
        self.cell.step()
        self._sim_time_ns += int(round(self.config.control_period * 1e9))
        self._publish()

    def _publish(self) -> None:
        frame = self.cell.render_async()  # renders on the cell's GL thread while we publish the rest
        stamp = Time(nanoseconds=self._sim_time_ns).to_msg()
        clock = Clock()
        clock.clock = stamp
        self.clock_pub.publish(clock)

        self.pose_pub.publish(pose_stamped(self.cell.ee_pose()[0], self.cell.ee_quat(), self.frame_id, stamp))

        names, qpos, qvel, effort = self.cell.joint_state()
        joints = JointState(name=names, position=qpos.tolist(), velocity=qvel.tolist(), effort=effort.tolist())
        joints.header.stamp = stamp
        self.joint_pub.publish(joints)

        if self._publish_privileged:
            state = self.cell.scene_state()
            state.stamp_ns, state.resets = self._sim_time_ns, self._resets
            self.state_pub.publish(String(data=state.to_json()))

        rgb = frame.result()
        if self._transport != "compressed":
            image = Image(**rgb_to_image_fields(rgb))
            image.header.stamp, image.header.frame_id = stamp, self.camera_frame_id
            self.image_pub.publish(image)
        if self._transport != "raw":
            fields = rgb_to_compressed_fields(rgb, self._compressed_format, self._jpeg_quality)
            compressed = CompressedImage(format=fields["format"], data=fields["data"])
            compressed.header.stamp, compressed.header.frame_id = stamp, self.camera_frame_id
            self.compressed_pub.publish(compressed)
        self.info_pub.publish(self._camera_info(stamp))

    def _camera_info(self, stamp) -> CameraInfo:
        fx, fy, cx, cy = self.cell.camera_intrinsics()
        info = CameraInfo(width=self.config.image_width, height=self.config.image_height,
                          distortion_model="plumb_bob", d=[0.0] * 5)
        info.header.stamp, info.header.frame_id = stamp, self.camera_frame_id
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def destroy_node(self) -> None:
        self.cell.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_sim sim_node``."""
    return run_node("sim_cell", SimCellNode, args)
