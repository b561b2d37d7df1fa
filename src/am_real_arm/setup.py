from setuptools import find_packages, setup

package_name = "am_real_arm"

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
    description="Real-arm adapter: /arm/cartesian_cmd to MoveIt Servo pose tracking, /arm/gripper_cmd to a gripper.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "adapter_node = am_real_arm.adapter_node:main",
            "key_teleop = am_real_arm.key_teleop:main",
        ],
    },
)
