"""Dataset build speed: synthetic episode bags -> cached training arrays, then the cached load.

Writes N synthetic episodes with the test bag factory (rgb8 frames at --size px, 10 Hz, every topic the
recorder records) into a temporary folder, builds the dataset into a fresh cache (frames per second) and
loads it again from the cache (seconds). Nothing is left behind.

    .venv/bin/python benchmarks/dataset_build.py [--episodes 20] [--frames 60] [--size 128] [--image-size 64]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "actionable_models" / "test"))

from bagfactory import write_episode  # noqa: E402

from actionable_models.data.dataset import DatasetConfig, load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="number of episodes")
    parser.add_argument("--frames", type=int, default=60, help="camera frames per episode")
    parser.add_argument("--size", type=int, default=128, help="recorded image side, px")
    parser.add_argument("--image-size", type=int, default=64, help="training image side, px")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="am_dataset_bench_") as tmp:
        bags, cache = Path(tmp) / "bags", Path(tmp) / "cache"
        start = time.perf_counter()
        for i in range(args.episodes):
            write_episode(bags, i, frames=args.frames, height=args.size, width=args.size)
        write_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in bags.rglob("*") if p.is_file()) / 1e6
        config = DatasetConfig(image_size=args.image_size, cache_dir=cache)

        start = time.perf_counter()
        ds = load_dataset(bags, config)
        build_s = time.perf_counter() - start
        frames = len(ds)
        del ds

        start = time.perf_counter()
        ds = load_dataset(bags, config)
        load_s = time.perf_counter() - start
        first_batch = ds.images[:256].sum()  # touch the memory map
        assert len(ds) == frames and first_batch >= 0

        print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
        print(f"{args.episodes} episodes x {args.frames} frames at {args.size}x{args.size} rgb8 "
              f"({size_mb:.1f} MB of bags, written in {write_s:.2f} s) -> {args.image_size}x{args.image_size}")
        print(f"build (fresh cache): {frames} frames in {build_s:.2f} s = {frames / build_s:,.0f} frames/s")
        print(f"cached load:         {load_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
