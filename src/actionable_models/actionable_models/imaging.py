"""sensor_msgs/Image and CompressedImage <-> numpy, written once for every node (ROS 2 cv_bridge and
image_transport are not on PyPI).

Works on the message's fields, so the core stays free of ROS imports: nodes pass ``msg.encoding``,
``msg.height``, ``msg.width``, ``msg.step``, ``msg.data`` in and build ``Image(**fields)`` out; a
CompressedImage is its ``format`` and ``data`` (jpeg or png, as image_transport's compressed plugin
publishes them). :func:`message_to_rgb` takes either message.
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


COMPRESSED_FORMATS = ("jpeg", "png")


def compressed_to_rgb(format: str, data: bytes | bytearray | memoryview) -> np.ndarray:
    """RGB uint8 (H, W, 3) of a sensor_msgs/CompressedImage. ``format`` as image_transport writes it
    (``jpeg``, ``png``, or ``rgb8; jpeg compressed bgr8``); ImageEncodingError when it is neither."""
    import cv2

    kind = format.split(";")[-1].strip().split(" ")[0].lower() if format else ""
    if kind not in COMPRESSED_FORMATS and not any(f in format.lower() for f in COMPRESSED_FORMATS):
        raise ImageEncodingError(f"unsupported compressed format {format!r}; expected jpeg or png")
    bgr = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageEncodingError(f"{format} image of {len(data)} bytes does not decode")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def rgb_to_compressed_fields(rgb: np.ndarray, format: str = "jpeg", jpeg_quality: int = 90) -> dict:
    """Fields of a sensor_msgs/CompressedImage (without header) for an (H, W, 3) uint8 RGB array, as
    image_transport's compressed plugin sends them (format ``rgb8; jpeg compressed bgr8``)."""
    import cv2

    if format not in COMPRESSED_FORMATS:
        raise ImageEncodingError(f"compressed format must be one of {COMPRESSED_FORMATS}, got {format!r}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if format == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, encoded = cv2.imencode(".jpg" if format == "jpeg" else ".png", rgb[:, :, ::-1], params)
    if not ok:
        raise ImageEncodingError(f"cannot encode a {rgb.shape} image as {format}")
    return {"format": f"rgb8; {format} compressed bgr8", "data": encoded.tobytes()}


def message_to_rgb(msg) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an Image or a CompressedImage message (anything with their fields)."""
    if hasattr(msg, "encoding"):
        return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data, getattr(msg, "is_bigendian", 0))
    return compressed_to_rgb(msg.format, msg.data)
