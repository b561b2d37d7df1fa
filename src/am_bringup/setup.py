"""am_bringup installs the repository's top-level launch/ and config/ into share/am_bringup."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

package_name = "am_bringup"
here = Path(__file__).resolve().parent
repo = here.parent.parent  # launch/ and config/ live at the top of the repository


def shared(folder: str, pattern: str) -> list[str]:
    # Paths relative to this setup.py, as setuptools wants them.
    return sorted(str(Path("..", "..", folder, Path(p).name)) for p in glob(str(repo / folder / pattern)))


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", shared("launch", "*.launch.py")),
        ("share/" + package_name + "/config", shared("config", "*.yaml") + shared("config", "*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Actionable Models for ROS 2 developers",
    maintainer_email="dev@actionable-models.invalid",
    description="Launch files, parameter YAML and the embedded runner of Actionable Models for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "am = am_bringup.cli:main",
        ],
    },
)
