from setuptools import find_packages, setup

package_name = "actionable_models"

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
    description="Pure-Python core of Actionable Models: simulated cell, dataset, learner. No ROS import.",
    license="Apache-2.0",
    python_requires=">=3.10",
)
