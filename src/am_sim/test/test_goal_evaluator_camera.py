"""The goal evaluator renders its goal images from the sim node's camera view, as given to both."""

import numpy as np
from rclpy.parameter import Parameter

from am_sim.goal_evaluator import GoalEvaluatorNode
from am_sim.sim_node import SimCellNode

VIEW = {"camera_pos": [0.92, 0.0, 0.78], "camera_target": [0.44, 0.0, 0.10], "camera_fovy_deg": 40.0}
SIZE = {"image_width": 32, "image_height": 32}


def _frame(node, seed: int = 7) -> np.ndarray:
    node.cell.reset(seed, "default")
    return node.cell.render()


def test_goal_images_come_from_the_view_the_sim_node_was_given(context):
    params = [Parameter(k, value=v) for k, v in {**VIEW, **SIZE}.items()]
    sim = SimCellNode(context=context, parameter_overrides=params)
    evaluator = GoalEvaluatorNode(context=context, parameter_overrides=params)
    default = GoalEvaluatorNode(node_name="default_view", context=context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in SIZE.items()])
    try:
        assert evaluator.cell.config.camera_pos == tuple(VIEW["camera_pos"])
        assert np.array_equal(_frame(evaluator), _frame(sim))
        assert not np.array_equal(_frame(default), _frame(sim))  # the control: another view, other pixels
    finally:
        for node in (sim, evaluator, default):
            node.cell.close()
            node.destroy_node()
