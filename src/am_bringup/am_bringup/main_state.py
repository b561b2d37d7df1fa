"""What `am main` left in its --out folder, so that a second run reuses what matches or refuses at once.

`am main` records the options of each stage in ``OUT/am_main.json`` when the stage completes. A later run
into the same folder compares its own options with them before doing any work:

- the collection is reused when its options (episodes, steps per episode, seed, image size) are the same;
- the training run resumes or is reused when the training options (steps, batch size) are the same too
  (the trainer itself checks the dataset and learner config again when it resumes);
- the evaluation always runs again (it writes the same results for the same checkpoint and seeds).

Anything else (other options, a stage that was interrupted, a folder am main did not write) is refused
with what differs and ``--fresh``, which removes only what am main writes (play/, run/, eval/, the
training curve and the record) and starts over.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from am_bringup.configs import ConfigFileError

RECORD = "am_main.json"
OUTPUTS = ("play", "run", "eval", "training_curve.png", RECORD)  # everything am main writes into --out


class OutFolderError(ConfigFileError):
    """An --out folder whose contents do not match this run's options; the message says what differs."""


def _read(out: Path) -> dict[str, Any]:
    path = out / RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OutFolderError(f"{path} is unreadable ({exc}); start over with --fresh") from None


def plan(out: Path, collect: dict[str, Any], training: dict[str, Any]) -> dict[str, bool]:
    """Which stages an earlier run into ``out`` already did with the same options: ``{"collect": bool,
    "train": bool}``; OutFolderError, before any work, where the folder holds something else."""
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"--out {out} is a file, not a folder")
    present = [name for name in OUTPUTS if (out / name).exists()]
    if not present:
        return {"collect": False, "train": False}
    if not (out / RECORD).is_file():
        raise OutFolderError(f"{out} already holds {', '.join(present)} but no {RECORD}: not a finished am main "
                             "collection (interrupted, or written by something else). Run again with --fresh to "
                             "start over there, or give another --out")
    record = _read(out)

    def differences(stage: str, wanted: dict[str, Any]) -> list[str]:
        had = record.get(stage, {})
        return [f"{key} {had.get(key)!r} -> {value!r}" for key, value in wanted.items() if had.get(key) != value]

    if "collect" not in record:
        raise OutFolderError(f"{out}: the earlier collection did not finish; run again with --fresh to start over")
    changed = differences("collect", collect)
    if changed:
        raise OutFolderError(f"{out} holds a collection made with other options ({'; '.join(changed)}); run again "
                             "with the same options to reuse it, with --fresh to start over, or give another --out")
    if "train" not in record:  # not trained yet, or interrupted: the trainer resumes from its checkpoint
        return {"collect": True, "train": False}
    changed = differences("train", training)
    if changed:
        raise OutFolderError(f"{out} holds a run trained with other options ({'; '.join(changed)}); run again "
                             "with the same options to reuse it, with --fresh to start over, or give another --out")
    return {"collect": True, "train": True}


def record_stage(out: Path, stage: str, options: dict[str, Any]) -> None:
    """Note in ``out``'s record that ``stage`` completed with ``options``."""
    path = out / RECORD
    record = _read(out) if path.is_file() else {}
    record[stage] = options
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def remove_outputs(out: Path) -> list[str]:
    """``--fresh``: delete what am main writes into ``out`` (nothing else); the names removed."""
    removed = []
    for name in OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed
