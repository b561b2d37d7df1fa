"""Render-only low-poly copies of the arm's meshes, made when the scene is built.

The stock UR5e and 2F-85 meshes have about 185k faces and cost about 30 ms per 64x64 frame on a
software renderer. Vertex clustering (snap vertices to a grid, merge each cell's vertices into their
mean, drop the triangles that collapse) keeps the silhouette and colours the camera sees at 64-128 px
for a few percent of the faces. Physics never sees these meshes.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) float64 and triangles (M, 3) int32 of a Wavefront OBJ or binary STL file."""
    suffix = path.suffix.lower()
    if suffix == ".obj":
        return _read_obj(path)
    if suffix == ".stl":
        return _read_binary_stl(path)
    raise ValueError(f"{path}: unsupported mesh format {suffix!r} (expected .obj or .stl)")


_OBJ_VERTEX = re.compile(rb"^v\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)
_OBJ_FACE = re.compile(rb"^f\s+(.+)$", re.MULTILINE)


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    text = path.read_bytes()
    verts = np.array(_OBJ_VERTEX.findall(text), dtype=np.float64).reshape(-1, 3)
    faces: list[int] = []
    for line in _OBJ_FACE.findall(text):
        idx = [int(tok.partition(b"/")[0]) - 1 for tok in line.split()]
        for i in range(1, len(idx) - 1):  # fan-triangulate polygons
            faces += (idx[0], idx[i], idx[i + 1])
    return verts, np.asarray(faces, dtype=np.int32).reshape(-1, 3)


def _read_binary_stl(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    count = int(np.frombuffer(raw, dtype="<u4", count=1, offset=80)[0])
    if len(raw) < 84 + 50 * count:
        raise ValueError(f"{path}: truncated or ASCII STL ({len(raw)} bytes for {count} triangles)")
    record = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    tris = np.frombuffer(raw, dtype=record, count=count, offset=84)["v"].reshape(-1, 3)
    return tris.astype(np.float64), np.arange(3 * count, dtype=np.int32).reshape(-1, 3)


def decimate(verts: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertex-clustering decimation on a grid of ``cell`` (same units as ``verts``).

    Returns the merged vertices and the surviving triangles, without degenerate or repeated ones.
    """
    cells = np.floor(verts / cell).astype(np.int64)
    cells -= cells.min(axis=0)
    keys = (cells[:, 0] << 42) | (cells[:, 1] << 21) | cells[:, 2]  # one integer per grid cell
    _, cluster, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.zeros((counts.size, 3))
    np.add.at(sums, cluster, verts)
    new_verts = sums / counts[:, None]
    tri = cluster[faces]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    tri = tri[keep]
    # The same triangle, whatever its winding start, appears once.
    canonical = np.sort(tri, axis=1).astype(np.int64)
    n = int(canonical.max()) + 1 if canonical.size else 1
    _, first = np.unique((canonical[:, 0] * n + canonical[:, 1]) * n + canonical[:, 2], return_index=True)
    tri = tri[np.sort(first)]
    used, remap = np.unique(tri, return_inverse=True)
    return new_verts[used], remap.reshape(-1, 3).astype(np.int32)


def cache_dir() -> Path:
    """Where decimated meshes are kept between runs ($XDG_CACHE_HOME/actionable_models/lowpoly)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "actionable_models" / "lowpoly"


def lowpoly_mesh(path: Path, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Decimated vertices and triangles of a mesh file, cached on disk: parsing OBJ text takes seconds."""
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{cell!r}|v1".encode()).hexdigest()
    cached = cache_dir() / f"{path.stem}-{key[:16]}.npz"
    try:
        with np.load(cached) as data:
            return data["verts"], data["faces"]
    except (OSError, KeyError, ValueError):
        pass
    verts, faces = decimate(*read_mesh(path), cell)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, verts=verts, faces=faces)
        os.replace(tmp, cached)  # atomic: parallel test workers never read half a file
    except OSError:
        pass  # a read-only home only costs the parse next time
    return verts, faces
