"""sensor_msgs/Image <-> numpy, written once for every node (ROS 2 cv_bridge is not on PyPI).

Works on the message's fields, so the core stays free of ROS imports: nodes pass ``msg.encoding``,
``msg.height``, ``msg.width``, ``msg.step``, ``msg.data`` in and build ``Image(**fields)`` out.
"""

from __future__ import annotations

import numpy as np

from actionable_models.errors import ActionableModelsError


class ImageEncodingError(ActionableModelsError, ValueError):
    """An Image message this project cannot read: unsupported encoding or inconsistent size."""


# encoding -> (channels, rgb order flip needed to get RGB)
_ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True), "mono8": (1, False)}


def image_to_rgb(encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview,
                 is_bigendian: int = 0) -> np.ndarray:
    """RGB uint8 array (height, width, 3) from the fields of a sensor_msgs/Image.

    Accepts rgb8, bgr8, rgba8, bgra8 and mono8; anything else raises :class:`ImageEncodingError`.
    """
    if encoding not in _ENCODINGS:
        raise ImageEncodingError(f"unsupported image encoding {encoding!r}; expected one of {', '.join(_ENCODINGS)}")
    channels, flip = _ENCODINGS[encoding]
    row = width * channels
    if step < row or len(data) < step * height:
        raise ImageEncodingError(f"{encoding} image {width}x{height} with step {step} needs {step * height} bytes, "
                                 f"got {len(data)}")
    arr = np.frombuffer(data, dtype=np.uint8, count=step * height).reshape(height, step)[:, :row]
    arr = arr.reshape(height, width, channels)
    if channels == 1:
        return np.repeat(arr, 3, axis=2)
    rgb = arr[:, :, :3]
    return np.ascontiguousarray(rgb[:, :, ::-1] if flip else rgb)


def rgb_to_image_fields(rgb: np.ndarray) -> dict:
    """Fields of an rgb8 sensor_msgs/Image (without header) for an (H, W, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageEncodingError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    height, width, _ = rgb.shape
    return {"encoding": "rgb8", "height": height, "width": width, "step": 3 * width, "is_bigendian": 0,
            "data": rgb.tobytes()}


def resize_for_learning(rgb: np.ndarray, size: int) -> np.ndarray:
    """The one way camera frames become learner input, for the dataset and the policy alike: a square
    ``size`` x ``size`` image by area averaging (no crop; the cell's camera is square)."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    import cv2  # here, not at import: loading a cached dataset should not pay for OpenCV

    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
