"""Objects and scene layouts of the cell: what is on the table and where the container stands.

Names here are the public vocabulary of tasks, goals and configs; an unknown name is a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

from actionable_models.errors import UnknownNameError


@dataclass(frozen=True)
class ObjectSpec:
    """A graspable object: a MuJoCo primitive with a distinct colour and shape."""

    name: str
    shape: str  # MuJoCo geom type: box, cylinder, ellipsoid, capsule
    size: tuple[float, ...]  # MuJoCo geom size (half extents; for capsule radius, half length)
    rgba: tuple[float, float, float, float]
    mass: float  # kg
    rest_height: float  # z of the body's origin when it rests on the table
    lying: bool = False  # capsule turned so its axis is horizontal


# Sizes suit the 2F-85 (85 mm stroke): every object has a side of 36-44 mm to grip across.
OBJECTS: dict[str, ObjectSpec] = {
    spec.name: spec
    for spec in (
        ObjectSpec("red_cube", "box", (0.02, 0.02, 0.02), (0.90, 0.15, 0.15, 1.0), 0.06, 0.02),
        ObjectSpec("green_cylinder", "cylinder", (0.019, 0.028), (0.15, 0.75, 0.25, 1.0), 0.06, 0.028),
        ObjectSpec("blue_bar", "box", (0.045, 0.018, 0.018), (0.20, 0.35, 0.95, 1.0), 0.07, 0.018),
        ObjectSpec("yellow_egg", "ellipsoid", (0.03, 0.021, 0.019), (0.95, 0.85, 0.10, 1.0), 0.05, 0.019),
        ObjectSpec("purple_capsule", "capsule", (0.018, 0.028), (0.60, 0.25, 0.80, 1.0), 0.05, 0.018,
                   lying=True),
    )
}


@dataclass(frozen=True)
class Layout:
    """Which objects a scene holds and where its open container stands (x, y on the table)."""

    name: str
    objects: tuple[str, ...]
    container_xy: tuple[float, float]


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("default", tuple(OBJECTS), (0.56, 0.20)),
        Layout("container_left", tuple(OBJECTS), (0.56, -0.20)),
        Layout("three_objects", ("red_cube", "green_cylinder", "blue_bar"), (0.56, 0.20)),
    )
}


def get_layout(name: str) -> Layout:
    """The layout called ``name``; an unknown name raises :class:`UnknownNameError` listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise UnknownNameError(f"unknown scene layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None


def get_object(name: str) -> ObjectSpec:
    """The object called ``name``; an unknown name raises :class:`UnknownNameError`."""
    try:
        return OBJECTS[name]
    except KeyError:
        raise UnknownNameError(f"unknown object {name!r}; known objects: {', '.join(OBJECTS)}") from None
