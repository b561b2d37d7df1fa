"""What `am main` decides about an existing --out folder, before any work."""

import pytest

from am_bringup.main_state import OutFolderError, plan, record_stage, remove_outputs

COLLECT = {"episodes": 2, "steps": 10, "seed": 1000, "image_size": 64}
TRAIN = {"train_steps": 4, "batch_size": 8}


def test_an_empty_or_new_folder_does_everything(tmp_path):
    assert plan(tmp_path / "new", COLLECT, TRAIN) == {"collect": False, "train": False}
    (tmp_path / "mine.txt").write_text("not am main's")
    assert plan(tmp_path, COLLECT, TRAIN) == {"collect": False, "train": False}  # others' files are left alone


def test_finished_stages_with_the_same_options_are_reused_and_others_refused(tmp_path):
    (tmp_path / "play").mkdir()
    with pytest.raises(OutFolderError, match="no am_main.json.*--fresh"):
        plan(tmp_path, COLLECT, TRAIN)  # a collection that never finished
    record_stage(tmp_path, "collect", COLLECT)
    assert plan(tmp_path, COLLECT, TRAIN) == {"collect": True, "train": False}
    record_stage(tmp_path, "train", TRAIN)
    assert plan(tmp_path, COLLECT, TRAIN) == {"collect": True, "train": True}
    with pytest.raises(OutFolderError, match="episodes 2 -> 3.*--fresh"):
        plan(tmp_path, {**COLLECT, "episodes": 3}, TRAIN)
    with pytest.raises(OutFolderError, match="train_steps 4 -> 8"):
        plan(tmp_path, COLLECT, {**TRAIN, "train_steps": 8})


def test_fresh_removes_only_what_am_main_writes(tmp_path):
    for name in ("play", "run", "eval"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x").write_text("")
    (tmp_path / "training_curve.png").write_bytes(b"")
    record_stage(tmp_path, "collect", COLLECT)
    (tmp_path / "notes.md").write_text("the user's")
    assert remove_outputs(tmp_path) == ["play", "run", "eval", "training_curve.png", "am_main.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]
    assert plan(tmp_path, COLLECT, TRAIN) == {"collect": False, "train": False}
    with pytest.raises(OutFolderError, match="is a file"):
        plan(tmp_path / "notes.md", COLLECT, TRAIN)


def test_main_set_takes_learner_fields_only_and_refuses_before_any_work(tmp_path):
    """am main --set trainer.PARAM=VALUE: learner fields pass through; what am main sets itself, other
    nodes and unknown names are refused by name, and a bad value is refused before anything is written."""
    from am_bringup.cli import main, main_learner_overrides
    from am_bringup.configs import ConfigFileError

    assert main_learner_overrides(["trainer.use_proprio=true", "trainer.image_keypoints=16"]) == {
        "use_proprio": True, "image_keypoints": 16}
    assert main_learner_overrides([]) == {}
    for item, message in (("trainer.steps=3", "use --train-steps"), ("sim_cell.seed=3", "trainer.PARAM=VALUE only"),
                          ("trainer.gama=0.9", "unknown learner field gama")):
        with pytest.raises(ConfigFileError, match=message):
            main_learner_overrides([item])
    out = tmp_path / "main"
    assert main(["main", "--out", str(out), "--set", "trainer.image_keypoints=-1"]) == 2
    assert not out.exists()
