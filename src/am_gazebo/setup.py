"""am_gazebo installs the Gazebo Harmonic cell (worlds, bridge, controllers, Servo config, arm xacro, launch)."""

from pathlib import Path

from setuptools import find_packages, setup

package_name = "am_gazebo"
here = Path(__file__).resolve().parent


def share(folder: str, pattern: str) -> tuple[str, list[str]]:
    # Paths relative to this setup.py, as setuptools wants them.
    files = sorted(str(p.relative_to(here)) for p in here.glob(f"{folder}/{pattern}"))
    return "share/" + package_name + "/" + folder, files


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        share("worlds", "*.sdf"),
        share("config", "*.yaml"),
        share("urdf", "*.xacro"),
        share("launch", "*.launch.py"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Actionable Models for ROS 2 developers",
    maintainer_email="dev@actionable-models.invalid",
    description="The Gazebo Harmonic cell: a world mirroring the MuJoCo cell, its ros_gz bridge and the arm stack.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "write_worlds = am_gazebo.world:main",
        ],
    },
)
