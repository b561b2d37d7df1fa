"""The policy node over real rclpy topics: latched goals, hold rules, checkpoint errors and reloads, and a
checkpoint that reads the gripper closure from /joint_states (use_proprio)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64, String

from actionable_models.data.dataset import DatasetConfig
from actionable_models.imaging import rgb_to_compressed_fields, rgb_to_image_fields
from actionable_models.learning.checkpoint import CheckpointError
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.trainer import TrainConfig, train
from am_common.messages import LATCHED
from am_policy_node.policy_node import PolicyNode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "actionable_models" / "test"))
from bagfactory import write_dataset  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy_node")
    write_dataset(root / "bags", episodes=2, frames=8, height=32, width=32)
    learner = LearnerConfig(image_size=16, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4,
                            negative_candidates=8)
    for steps in (2, 4):  # two checkpoints: the node starts on one and reloads the other
        train(root / "bags", root / "run", learner, TrainConfig(steps=steps, checkpoint_every=2),
              DatasetConfig(image_size=16, cache_dir=root / "cache"))
    return root / "run"


@pytest.fixture(scope="module")
def proprio_run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy_node_proprio")
    write_dataset(root / "bags", episodes=2, frames=8, height=32, width=32)
    learner = LearnerConfig(image_size=16, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4,
                            negative_candidates=8, use_proprio=True)
    train(root / "bags", root / "run", learner, TrainConfig(steps=2, checkpoint_every=2),
          DatasetConfig(image_size=16, cache_dir=root / "cache"))
    return root / "run"


class FakeArm:
    """Plays camera and arm: publishes frames and poses, records commands and the policy's status."""

    def __init__(self, context, compressed: bool = False, joint_states: bool = False):
        self.node = Node("fake_arm", context=context, start_parameter_services=False)
        self.compressed = compressed
        self.joint_states = joint_states  # also publish /joint_states (six arm joints and the gripper's)
        self.joints = self.node.create_publisher(JointState, "/joint_states", 10)
        self.camera = self.node.create_publisher(CompressedImage if compressed else Image, "/camera/image_raw"
                                                 + ("/compressed" if compressed else ""), qos_profile_sensor_data)
        self.pose = self.node.create_publisher(PoseStamped, "/arm/ee_pose", 10)
        self.goal = self.node.create_publisher(Image, "/am/goal_image", LATCHED)
        self.checkpoint = self.node.create_publisher(String, "/am/checkpoint", LATCHED)
        self.commands: list[PoseStamped] = []
        self.grippers: list[float] = []
        self.status: list[dict] = []
        self.node.create_subscription(PoseStamped, "/arm/cartesian_cmd", self.commands.append, 10)
        self.node.create_subscription(Float64, "/arm/gripper_cmd", lambda m: self.grippers.append(m.data), 10)
        self.node.create_subscription(String, "/am/policy_status", lambda m: self.status.append(json.loads(m.data)),
                                      10)
        self.frames = 0

    def publish_goal(self):
        self.goal.publish(Image(**rgb_to_image_fields(np.full((32, 32, 3), 200, np.uint8))))

    def publish_observation(self):
        self.frames += 1
        stamp = rclpy.time.Time(nanoseconds=self.frames * 100_000_000).to_msg()
        rgb = np.full((32, 32, 3), self.frames % 255, np.uint8)
        image = CompressedImage(**rgb_to_compressed_fields(rgb)) if self.compressed else Image(**rgb_to_image_fields(rgb))
        image.header.stamp = stamp
        self.camera.publish(image)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.45, 0.0, 0.2
        pose.pose.orientation.x = 1.0  # gripper pointing down, yaw 0
        self.pose.publish(pose)
        if self.joint_states:
            joints = JointState(name=[f"joint_{i}" for i in range(6)] + ["gripper_finger_joint"],
                                position=[0.0] * 6 + [0.8 * (self.frames % 2)])  # fingers closed every other frame
            joints.header.stamp = stamp
            self.joints.publish(joints)


def _policy(context, run_dir, **params):
    params = {"checkpoint": str(run_dir / "checkpoint-00000002.safetensors"), "control_rate_hz": 20.0,
              "stale_after_s": 0.4, "reached_q": 1.0, "use_terminate": False, **params}
    return PolicyNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_goal_published_before_start_is_used_and_commands_answer_frames(context, run_dir, spin_for, transport):
    arm = FakeArm(context, compressed=transport == "compressed")
    arm.publish_goal()  # before the policy exists: transient local keeps it
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm.node)
    spin_for(executor, 0.3)
    policy = _policy(context, run_dir, camera_transport=transport)
    executor.add_node(policy)
    try:
        spin_for(executor, 2.0, every=arm.publish_observation)
        assert policy.goal_time is not None
        acting = [s for s in arm.status if s["state"] == "acting"]
        assert acting and arm.commands, arm.status[-3:]
        command = arm.commands[-1]
        assert command.header.frame_id == "base_link"
        step = np.linalg.norm(np.array([command.pose.position.x, command.pose.position.y,
                                        command.pose.position.z]) - [0.45, 0.0, 0.2])
        assert step <= policy.config.max_step_m + 1e-6
        assert 0 < command.header.stamp.sec * 10**9 + command.header.stamp.nanosec <= arm.frames * 100_000_000
        assert len(arm.grippers) == len(arm.commands)
    finally:
        executor.shutdown()
        policy.destroy_node()
        arm.node.destroy_node()


def test_stale_camera_makes_the_policy_hold(context, run_dir, spin_for):
    arm = FakeArm(context)
    arm.publish_goal()
    policy = _policy(context, run_dir)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm.node)
    executor.add_node(policy)
    try:
        spin_for(executor, 1.0, every=arm.publish_observation)
        assert arm.commands
        spin_for(executor, 0.8)  # the camera goes quiet
        sent = len(arm.commands)
        spin_for(executor, 0.5)
        assert len(arm.commands) == sent  # nothing commanded while holding
        assert arm.status[-1]["state"] == "holding" and "camera image is stale" in arm.status[-1]["reason"]
        spin_for(executor, 0.6, every=arm.publish_observation)
        assert len(arm.commands) > sent  # fresh frames: acting again
    finally:
        executor.shutdown()
        policy.destroy_node()
        arm.node.destroy_node()


def test_announced_checkpoint_is_loaded_and_a_bad_one_kept_out(context, run_dir, spin_for):
    arm = FakeArm(context)
    policy = _policy(context, run_dir)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm.node)
    executor.add_node(policy)
    try:
        assert policy.policy.info.step == 2
        arm.checkpoint.publish(String(data=str(run_dir / "checkpoint-00000004.safetensors")))
        spin_for(executor, 0.5)
        assert policy.policy.info.step == 4
        arm.checkpoint.publish(String(data=str(run_dir / "nope.safetensors")))
        spin_for(executor, 0.5)
        assert policy.policy.info.step == 4
    finally:
        executor.shutdown()
        policy.destroy_node()
        arm.node.destroy_node()


def test_missing_or_empty_checkpoint_is_a_clear_error(context, tmp_path):
    with pytest.raises(ValueError, match="parameter checkpoint is empty"):
        PolicyNode(context=context, parameter_overrides=[Parameter("checkpoint", value="")])
    with pytest.raises(CheckpointError, match="does not exist"):
        missing = str(tmp_path / "x.safetensors")
        PolicyNode(context=context, parameter_overrides=[Parameter("checkpoint", value=missing)])


@pytest.mark.parametrize("trigger", ["timer", "observation"])
def test_a_proprio_checkpoint_holds_until_the_gripper_joint_state_arrives_then_acts(context, proprio_run_dir,
                                                                                    spin_for, trigger):
    arm = FakeArm(context)
    arm.publish_goal()
    policy = _policy(context, proprio_run_dir, checkpoint=str(proprio_run_dir), trigger=trigger)
    assert policy.policy.needs_gripper_closure
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm.node)
    executor.add_node(policy)
    try:
        spin_for(executor, 1.0, every=arm.publish_observation)  # camera and pose, no joint state
        assert not arm.commands
        assert arm.status and arm.status[-1]["state"] == "holding"
        assert "no gripper joint state" in arm.status[-1]["reason"]
        arm.joint_states = True
        spin_for(executor, 1.5, every=arm.publish_observation)
        assert arm.commands and arm.status[-1]["state"] == "acting", arm.status[-3:]
        assert policy.gripper is not None and policy.gripper[0] in (0.0, 1.0)
        # Each decision publishes a gripper command and a pose on two topics, which the executor can deliver
        # in either order; the spin above can stop between them (CI: 824 grippers, 825 poses), so drain the
        # last pair, with no new observations, before counting.
        spin_for(executor, 2.0, until=lambda: len(arm.grippers) == len(arm.commands))
        assert len(arm.grippers) == len(arm.commands)
    finally:
        executor.shutdown()
        policy.destroy_node()
        arm.node.destroy_node()
