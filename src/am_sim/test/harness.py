"""A probe node that drives the sim node over real topics, for tests and benchmarks."""

from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import Log
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger

from actionable_models.imaging import image_to_rgb
from actionable_models.sim.state import SceneState
from am_common.messages import LATCHED, pose_command
from am_sim.sim_node import SimCellNode

ROSOUT = QoSProfile(depth=200, reliability=QoSReliabilityPolicy.RELIABLE,
                    durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


class SimHarness:
    """Starts a SimCellNode and a probe node in ``context`` and spins them on a background thread."""

    def __init__(self, context: Context, watch_pose_and_logs: bool = True, **sim_params) -> None:
        self.context = context
        params = [Parameter(k, value=v) for k, v in sim_params.items()]
        self.sim = SimCellNode(context=context, parameter_overrides=params)
        self.probe = Node("probe", context=context, start_parameter_services=False)
        self.pose_pub = self.probe.create_publisher(PoseStamped, "/arm/cartesian_cmd", 10)
        self.gripper_pub = self.probe.create_publisher(Float64, "/arm/gripper_cmd", 10)
        self.reset_client = self.probe.create_client(Trigger, "/sim/reset")
        self.state: SceneState | None = None
        self.state_count = 0
        self.ee_pose: PoseStamped | None = None
        self.image: np.ndarray | None = None
        self.image_count = 0
        self.errors: list[str] = []
        self._images_at_reset = 0
        self._cond = threading.Condition()
        self.probe.create_subscription(String, "/sim/privileged_state", self._on_state, LATCHED)
        self.probe.create_subscription(Image, "/camera/image_raw", self._on_image, qos_profile_sensor_data)
        if watch_pose_and_logs:
            self.probe.create_subscription(PoseStamped, "/arm/ee_pose", self._on_pose, 10)
            self.probe.create_subscription(Log, "/rosout", self._on_log, ROSOUT)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.sim)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self.wait_for(lambda: self.pose_pub.get_subscription_count() > 0
                      and self.gripper_pub.get_subscription_count() > 0 and self.state is not None,
                      what="sim node discovery")

    # ------------------------------------------------------------------------------------ callbacks
    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _on_state(self, msg: String) -> None:
        self.state = SceneState.from_json(msg.data)
        self.state_count += 1
        self._notify()

    def _on_pose(self, msg: PoseStamped) -> None:
        self.ee_pose = msg
        self._notify()

    def _on_image(self, msg: Image) -> None:
        self.image = image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)
        self.image_count += 1
        self._notify()

    def _on_log(self, msg: Log) -> None:
        if msg.name == self.sim.get_name() and msg.level >= Log.ERROR:
            self.errors.append(msg.msg)
            self._notify()

    # -------------------------------------------------------------------------------------- driving
    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition") -> None:
        """Block until ``predicate()`` is true; AssertionError naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(min(left, 0.05))

    def publish(self, pos, yaw: float, gripper: float | None, frame_id: str = "base_link") -> None:
        """Publish a gripper command (if given) then a pose command."""
        if gripper is not None:
            self.gripper_pub.publish(Float64(data=float(gripper)))
        self.pose_pub.publish(pose_command(pos, yaw, frame_id))

    def step(self, pos, yaw: float, gripper: float, timeout: float = 10.0) -> SceneState:
        """Lock-step: command and wait for the state of the next control step."""
        before = self.state.step
        self.publish(pos, yaw, gripper)
        self.wait_for(lambda: self.state.step > before, timeout, "the next lock-step state")
        return self.state

    def reset(self, seed: int | None = None, layout: str | None = None) -> Trigger.Response:
        """Set the sim's seed/layout parameters and call /sim/reset over DDS."""
        params = []
        if seed is not None:
            params.append(Parameter("seed", value=seed))
        if layout is not None:
            params.append(Parameter("layout", value=layout))
        if params:
            self.sim.set_parameters(params)
        assert self.reset_client.wait_for_service(timeout_sec=10.0), "/sim/reset not available"
        states_before, images_before = self.state_count, self.image_count
        future = self.reset_client.call_async(Trigger.Request())
        deadline = time.monotonic() + 10.0
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError("/sim/reset did not answer within 10 s")
            time.sleep(0.002)
        response = future.result()
        if response.success:
            self.wait_for(lambda: self.state_count > states_before and self.state.step == 0,
                          what="the state after reset")
            self._images_at_reset = images_before
        return response

    def wait_for_image_after_reset(self) -> np.ndarray:
        """The first camera frame published after the last :meth:`reset`."""
        self.wait_for(lambda: self.image_count > self._images_at_reset, what="a camera frame after reset")
        return self.image

    def close(self) -> None:
        """Stop spinning and destroy both nodes."""
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=2.0)
        self.probe.destroy_node()
        self.sim.destroy_node()
