"""Real-arm adapter: the cell's arm topics on a real (or Gazebo) arm through MoveIt Servo and a gripper."""
