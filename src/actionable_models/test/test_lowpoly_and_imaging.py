"""Mesh decimation and Image-message conversion."""

import numpy as np
import pytest

from actionable_models.imaging import ImageEncodingError, image_to_rgb, rgb_to_image_fields
from actionable_models.sim.lowpoly import decimate, lowpoly_mesh, read_mesh
from actionable_models.sim.scene import descriptions_dir


def _sphere(n=60):
    theta, phi = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n), indexing="ij")
    verts = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1).reshape(-1, 3)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [(a, b, d), (a, d, c)]
    return verts, np.array(faces)


def test_decimation_cuts_faces_and_keeps_the_shape():
    verts, faces = _sphere()
    small_v, small_f = decimate(verts, faces, cell=0.25)
    assert len(small_f) < len(faces) / 4
    assert small_f.max() < len(small_v)
    assert np.all(small_f[:, 0] != small_f[:, 1])
    assert np.allclose(np.linalg.norm(small_v, axis=1), 1.0, atol=0.25)  # still on the sphere


def test_stock_arm_mesh_decimates_from_thousands_of_faces():
    path = descriptions_dir() / "universal_robots_ur5e" / "assets" / "upperarm_3.obj"
    verts, faces = read_mesh(path)
    low_v, low_f = lowpoly_mesh(path, 0.012)
    assert len(faces) > 10000
    assert 50 < len(low_f) < len(faces) / 10
    assert np.allclose(low_v.min(0), verts.min(0), atol=0.012)
    assert np.allclose(low_v.max(0), verts.max(0), atol=0.012)


def test_rgb_image_round_trip_and_bgr():
    rgb = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    fields = rgb_to_image_fields(rgb)
    assert fields["encoding"] == "rgb8" and fields["step"] == 15
    assert np.array_equal(image_to_rgb(fields["encoding"], 4, 5, 15, fields["data"]), rgb)
    bgr = rgb[:, :, ::-1].tobytes()
    assert np.array_equal(image_to_rgb("bgr8", 4, 5, 15, bgr), rgb)


def test_bad_image_encoding_or_size_is_named():
    with pytest.raises(ImageEncodingError, match="unsupported image encoding '16UC1'"):
        image_to_rgb("16UC1", 2, 2, 4, bytes(8))
    with pytest.raises(ImageEncodingError, match="needs 12 bytes, got 6"):
        image_to_rgb("rgb8", 2, 2, 6, bytes(6))
