"""What a folder of episode bags holds, and what is wrong with it, before a training run finds out.

``dataset_info`` counts episodes, camera frames, topic rates, gaps, sizes and episode metadata;
``dataset_check`` lists every problem that would make ``load_dataset`` reject an episode (errors) or
that quietly degrades the data (warnings), naming the bag. ``format_info`` and ``format_problems`` turn
them into text for a command line (`am dataset info|check FOLDER`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionable_models.data import keys
from actionable_models.data.dataset import (
    DatasetError,
    align,
    camera_frames,
    find_episodes,
    read_header,
    read_streams,
)
from actionable_models.imaging import ImageEncodingError, message_to_rgb

GAP_FACTOR = 3.0  # a camera interval this many times the median one is a gap
# Metadata keys unique to each episode: not worth a per-value count.
_UNIQUE_META = (keys.META_SEED, keys.META_EPISODE, keys.META_STARTED, keys.META_PRIMITIVES)
_MB = 1e6


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one bag (or the folder)."""

    path: Path
    severity: str  # "error": load_dataset rejects the episode; "warning": it loads, maybe not as meant
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def _command_slack(frames: int) -> int:
    # A controller may re-send a command now and then; more than this is a different command rate.
    return 2 + frames // 50


def dataset_info(folder: Path | str) -> dict:
    """Episodes, camera frames (steps), duration, per-topic counts and rates, camera gaps, sizes, metadata.

    Raises DatasetError if the folder does not exist or holds no episodes; unreadable and incomplete
    episodes are listed, not raised.
    """
    folder = Path(folder)
    episodes = find_episodes(folder)
    counts: Counter[str] = Counter()
    intervals_per_topic: Counter[str] = Counter()  # messages - 1 per bag: a rate over a bag's span
    meta: dict[str, Counter[str]] = {}
    bags, gaps, incomplete, unreadable = [], [], [], []
    duration_ns = 0
    size = 0
    topic_bytes: Counter[str] = Counter()
    stamped_intervals: Counter[str] = Counter()  # per topic, over the bags: messages - 1, and the stamp span
    stamped_span_ns: Counter[str] = Counter()
    for path in episodes:
        size += sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        try:
            header = read_header(path)
            traffic: dict = {}  # every topic's bytes and header-stamp span, read in the same pass
            streams = read_streams(header, traffic=traffic)
        except DatasetError as exc:
            is_open = (path / keys.RECORDING_MARKER).exists() or not (path / "metadata.yaml").is_file()
            (incomplete if is_open else unreadable).append({"path": str(path), "problem": exc.problem})
            continue
        counts.update(header.counts)
        intervals_per_topic.update({topic: max(count - 1, 0) for topic, count in header.counts.items()})
        for topic, t in traffic.items():
            topic_bytes[topic] += t.bytes
            if t.first_stamp_ns is not None and t.count > 1:
                stamped_intervals[topic] += t.count - 1
                stamped_span_ns[topic] += t.last_stamp_ns - t.first_stamp_ns
        duration_ns += header.duration_ns
        for key, value in header.custom.items():
            if key not in _UNIQUE_META:
                meta.setdefault(key, Counter())[value] += 1
        stamps = np.sort(np.asarray(streams.frame_stamp, dtype=np.int64))
        intervals = np.diff(stamps)
        median = float(np.median(intervals)) if len(intervals) else 0.0
        for i in np.argsort(intervals)[::-1][:5]:
            gaps.append({"path": str(path), "after_s": (stamps[i] - stamps[0]) / 1e9, "gap_s": intervals[i] / 1e9,
                         "median_s": median / 1e9})
        bags.append({"path": str(path), "steps": len(stamps), "duration_s": header.duration_ns / 1e9,
                     "frame_interval_s": median / 1e9, "size_mb": header.size_bytes / _MB,
                     "duplicate_frames": streams.duplicates})
    seconds = duration_ns / 1e9
    topics = {topic: {"count": counts.get(topic, 0), "size_mb": topic_bytes.get(topic, 0) / _MB,
                      "rate_hz": intervals_per_topic.get(topic, 0) / seconds if seconds else 0.0,
                      "stamp_rate_hz": (stamped_intervals[topic] / (stamped_span_ns[topic] / 1e9)
                                        if stamped_span_ns.get(topic) else None)}
              for topic in [*keys.RECORDED_TOPICS, *sorted(set(counts) - set(keys.RECORDED_TOPICS))]}
    return {
        "folder": str(folder),
        "episodes": len(bags),
        "steps": sum(b["steps"] for b in bags),
        "duration_s": seconds,
        "stamp_duration_s": max(stamped_span_ns.get(t, 0) for t in keys.CAMERA_TOPICS) / 1e9,
        "size_mb": size / _MB,
        "topics": topics,
        "largest_gaps": sorted(gaps, key=lambda g: -g["gap_s"])[:5],
        "bags": bags,
        "incomplete": incomplete,
        "unreadable": unreadable,
        "metadata": {key: dict(c.most_common()) for key, c in sorted(meta.items())},
    }


def _check_episode(path: Path) -> list[Problem]:
    problems: list[Problem] = []

    def add(severity: str, message: str) -> None:
        problems.append(Problem(path, severity, message))

    try:
        header = read_header(path)
    except DatasetError as exc:
        return [Problem(exc.path, "error", exc.problem)]
    if not camera_frames(header):
        add("error", f"missing required topic {keys.IMAGE} (no messages, nor on {keys.IMAGE_COMPRESSED})")
    for topic in keys.REQUIRED_TOPICS:
        if not header.counts.get(topic):
            add("error", f"missing required topic {topic} (no messages)")
    for topic in keys.RECORDED_TOPICS:
        if topic not in (*keys.REQUIRED_TOPICS, *keys.CAMERA_TOPICS) and not header.counts.get(topic):
            add("warning", f"no messages on {topic}")

    encodings: dict[str, str] = {}  # each distinct encoding (or compressed format) is decoded once

    def on_frame(_: int, msg) -> None:
        encoding = getattr(msg, "encoding", None) or getattr(msg, "format", "")
        if encoding not in encodings:
            try:
                message_to_rgb(msg)
                encodings[encoding] = ""
            except ImageEncodingError as exc:
                encodings[encoding] = str(exc)
                add("error", f"camera frames: {exc}")

    try:
        s = read_streams(header, on_frame)
    except DatasetError as exc:
        return [*problems, Problem(exc.path, "error", exc.problem)]
    if not s.frame_stamp:
        return problems
    a = align(s)
    n = len(a.stamps)
    if s.duplicates:
        add("warning", f"{s.duplicates} camera frame(s) repeat an earlier stamp (dropped)")
    intervals = np.diff(a.stamps)
    if len(intervals):
        median = float(np.median(intervals))
        big = np.flatnonzero(intervals > GAP_FACTOR * median)
        for i in big[:3]:
            add("warning", f"camera gap of {intervals[i] / 1e9:.3f} s after frame {i} (stamp {a.stamps[i]} ns), "
                           f"over {GAP_FACTOR:g}x the median interval {median / 1e9:.3f} s")
        if len(big) > 3:
            add("warning", f"{len(big) - 3} more camera gaps over {GAP_FACTOR:g}x the median interval")
    if s.ee and (missing := np.flatnonzero(a.ee_index < 0)).size:
        add("error", f"{missing.size} of {n} camera frames have no {keys.EE_POSE} within "
                     f"{a.tolerance_ns / 1e6:.1f} ms (first: stamp {a.stamps[missing[0]]} ns)")
    if s.cmd:
        # The last frame may legitimately go unanswered: recording stops on the final observation.
        unanswered = np.flatnonzero(a.cmd_index[:-1] < 0)
        if unanswered.size:
            add("warning", f"{unanswered.size} of {n} camera frames have no pose command answering them "
                           f"(first: stamp {a.stamps[unanswered[0]]} ns); the dataset holds the previous command")
        if len(s.cmd) > n + _command_slack(n):
            add("warning", f"{len(s.cmd)} pose commands for {n} camera frames: only one per frame is used")
    return problems


def dataset_check(folder: Path | str) -> list[Problem]:
    """Every problem found in the bags of ``folder``, errors and warnings, each naming its bag."""
    folder = Path(folder)
    try:
        episodes = find_episodes(folder)
    except DatasetError as exc:
        return [Problem(exc.path, "error", exc.problem)]
    return [problem for path in episodes for problem in _check_episode(path)]


def format_info(info: dict) -> str:
    """``dataset_info`` as text for a terminal."""
    lines = [f"{info['folder']}: {info['episodes']} episodes, {info['steps']} steps (camera frames), "
             f"{info.get('stamp_duration_s', 0.0):.1f} s by camera stamps, {info['duration_s']:.1f} s recorded, "
             f"{info['size_mb']:.1f} MB"]
    for label in ("incomplete", "unreadable"):
        for bag in info[label]:
            lines.append(f"  {label}: {bag['path']}: {bag['problem']}")
    width = max((len(t) for t in info["topics"]), default=0)
    lines.append(f"topics:  {'':<{width - 8}}  {'messages':>8}  {'MB':>8}  {'stamp rate':>12}  {'log rate':>10}")
    for topic, t in info["topics"].items():
        stamp = f"{t['stamp_rate_hz']:9.2f} Hz" if t.get("stamp_rate_hz") else f"{'-':>12}"
        lines.append(f"  {topic:<{width}}  {t['count']:>8}  {t.get('size_mb', 0.0):8.2f}  {stamp}  "
                     f"{t['rate_hz']:7.2f} Hz")
    lines.append("  (stamp rate: by the messages' header stamps, simulated time in sim bags; log rate: by the "
                 "recorder's wall clock)")
    if info["largest_gaps"]:
        lines.append("largest camera intervals:")
        for g in info["largest_gaps"]:
            lines.append(f"  {g['gap_s']:.3f} s at {g['after_s']:.3f} s in {Path(g['path']).name} "
                         f"(median {g['median_s']:.3f} s)")
    if info["metadata"]:
        lines.append("metadata:")
        for key, values in info["metadata"].items():
            lines.append(f"  {key}: " + ", ".join(f"{value} x{count}" for value, count in values.items()))
    return "\n".join(lines)


def format_problems(problems: list[Problem]) -> str:
    """``dataset_check`` as text: one line per problem, then a count."""
    if not problems:
        return "no problems found"
    errors = sum(p.severity == "error" for p in problems)
    lines = [f"{p.severity.upper():<7} {p.path}: {p.message}" for p in problems]
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s)")
    return "\n".join(lines)
