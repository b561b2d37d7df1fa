"""The Gazebo Harmonic cell: worlds generated from the MuJoCo cell's config, with its bridge and arm stack."""
