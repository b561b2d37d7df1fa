from setuptools import find_packages, setup

package_name = "am_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Actionable Models for ROS 2 developers",
    maintainer_email="dev@actionable-models.invalid",
    description="Simulated MuJoCo robot cell behind ROS 2 arm and camera topics, and a scripted demo.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_node = am_sim.sim_node:main",
            "pick_place_demo = am_sim.pick_place_demo:main",
            "play_collector = am_sim.play_collector:main",
            "goal_evaluator = am_sim.goal_evaluator:main",
        ],
    },
)
