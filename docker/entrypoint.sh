#!/bin/bash
# Entry point of the actionable-models image: source ROS 2 Jazzy and the workspace, then either run the
# command given (ros2 ..., am ..., bash) or pass the arguments (name:=value ...) to reach_goal.launch.py.
set -e
source /opt/ros/jazzy/setup.bash
source /ws/install/setup.bash
if [ "$#" -gt 0 ] && [[ "$1" != *:=* ]]; then
    exec "$@"
fi
exec ros2 launch am_bringup reach_goal.launch.py "$@"
