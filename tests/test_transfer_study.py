"""The transfer study (experiments.transfer_study): its options, its resumable runs and its summary."""

import json

import pytest

from crossbar.sweep import runs as sweep_runs
from experiments import transfer_study as study


@pytest.mark.parametrize("option, value", [("--algorithms", "nonsense"), ("--devices", "gold"),
                                           ("--epochs", "0"), ("--limit-train", "-5"), ("--lr", "0"),
                                           ("--dataset", "cifar")])
def test_bad_options_are_named_before_training(option, value, capsys, tmp_path):
    with pytest.raises(SystemExit):
        study.main(["--dataset", "digits", option, value, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert option in err and value in err
    assert not (tmp_path / "runs").exists()


def test_device_groups_expand_to_their_devices_once():
    names = study._names("aihwkit,reram_sb_aihwkit", list(study.DEVICES), "--devices", study.DEVICE_GROUPS)
    assert names == ["reram_sb_aihwkit", "reram_sb_symmetric", "reram_sb_sgd_spec", "reram_sb_sgd_spec_10k"]
    published = study._names("published", list(study.DEVICES), "--devices", study.DEVICE_GROUPS)
    assert len(published) == 9 and all(name in study.DEVICES for name in published)
    with pytest.raises(ValueError, match="gold"):
        study._names("published,gold", list(study.DEVICES), "--devices", study.DEVICE_GROUPS)


def test_each_run_is_train_mlps_command_with_the_project_mnist_folder():
    args = study.build_parser().parse_args(["--mnist-dir", "/somewhere/mnist", "--limit-train", "100"])
    opts = study.run_options(args, "reram_sb_symmetric", "agad")
    assert opts[opts.index("--algorithm") + 1] == "agad" and "symmetry=0.5" in opts
    recorded = study._recorded(opts)
    assert "/somewhere" not in recorded and "--mnist-dir data/mnist" in recorded


def _fake_run(runs_dir, name, curve, pulses):
    (runs_dir / name).mkdir(parents=True)
    backend = {"initial_test_error": 0.9, "test_error": curve, "samples_per_s": [100.0, 300.0, 200.0],
               "events": {"train": [{"update.coincidences": pulses, "forward.reads": 10.0},
                                    {"update.coincidences": 1.0, "forward.reads": 5.0}]}}
    (runs_dir / name / "results.json").write_text(json.dumps({"epochs_done": len(curve), "backends": {"x": backend},
                                                              "meta": {"command": f"cmd {name}"}}))


def test_the_summary_is_the_runs_numbers_and_marks_unfinished_runs(tmp_path):
    runs_dir = tmp_path / "runs"
    _fake_run(runs_dir, "dev-sgd", [0.5, 0.3], 1e6)
    _fake_run(runs_dir, "dev-agad", [0.4], 2e6)
    _fake_run(runs_dir, "float", [0.1, 0.05], 0.0)
    layout = {"dev-sgd": {"device": "dev", "algorithm": "sgd"}, "dev-agad": {"device": "dev", "algorithm": "agad"},
              "dev-c_ttv2": {"device": "dev", "algorithm": "c_ttv2"}}
    description = {"dataset": "mnist", "network": "784-256-128-10 sigmoid", "epochs": 2, "batch_size": 10, "lr": 0.5,
                   "train": 100, "test": 50, "seed": 0}
    summary = study.summarize(tmp_path, layout, description)
    assert set(summary["runs"]) == {"dev-sgd", "dev-agad", "float"}  # c_ttv2 not run yet
    sgd = summary["runs"]["dev-sgd"]
    assert sgd["final_test_error"] == 0.3 and sgd["test_error"] == [0.5, 0.3] and sgd["device_pulses"] == 1e6 + 1
    assert sgd["forward_reads"] == 15 and sgd["samples_per_s"] == 200.0 and sgd["command"] == "cmd dev-sgd"
    text = (tmp_path / "summary.md").read_text()
    assert "| sgd | 30.00% |" in text and "| sgd | 1e+06 |" in text and "40.00% (partial)" in text
    assert "| float | 5.00% |" in text and "| c_ttv2 | not run |" not in text  # not run yet: no row
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


@pytest.mark.slow
def test_the_study_resumes_without_retraining_and_its_summary_is_the_runs_numbers(tmp_path, monkeypatch):
    argv = ["--dataset", "digits", "--sizes", "4", "--epochs", "1", "--limit-train", "60", "--algorithms", "c_ttv2",
            "--devices", "reram_sb_aihwkit", "--out", str(tmp_path), "--no-progress"]
    first = study.main(argv)
    names = {"reram_sb_aihwkit-c_ttv2", "float"}
    assert set(first["runs"]) == names
    for name in names:
        res = json.loads((tmp_path / "runs" / name / "results.json").read_text())
        backend = next(iter(res["backends"].values()))
        row = first["runs"][name]
        assert row["test_error"] == backend["test_error"] and row["final_test_error"] == backend["test_error"][-1]
        assert row["epochs_done"] == res["epochs_done"] == 1
    assert first["runs"]["reram_sb_aihwkit-c_ttv2"]["device_pulses"] > 0
    assert "python -m experiments.train_mlp" in first["runs"]["reram_sb_aihwkit-c_ttv2"]["command"]
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/results.json")}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep_runs, "train_compare", no_training)
    again = study.main(argv)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again["runs"] == first["runs"]
    assert json.loads((tmp_path / "summary.json").read_text())["runs"] == again["runs"]
    assert "c_ttv2" in (tmp_path / "summary.md").read_text() and (tmp_path / "test_error.png").stat().st_size > 0


def test_device_traits_tell_the_symmetry_point_states_and_asymmetry():
    aihwkit, symmetric = study.device_traits("reram_sb_aihwkit", 200), study.device_traits("reram_sb_sgd_spec_10k", 200)
    assert aihwkit["symmetry_point_exists"] == 1.0 and abs(aihwkit["symmetry_point"] - 0.375) < 0.03
    assert 900 < aihwkit["states"] < 1100 and 9000 < symmetric["states"] < 11000
    assert abs(symmetric["symmetry_point"] - 0.5) < 0.03 and aihwkit["c2c"] == 3.75 and symmetric["c2c"] == 0.3
    # a soft-bounds device is symmetric only at its symmetry point: a quarter of the range above it, steps differ
    assert aihwkit["asymmetry_quarter_range"] > 0.5
    fitted = study.device_traits("crosssim_rram_fit", 200)  # exp steps whose down step always wins:
    assert fitted["symmetry_point_exists"] == 0.0 and fitted["model"] == "ExpStep"  # random pulses run it to
    assert fitted["symmetry_point"] == 0.0  # its lower bound
