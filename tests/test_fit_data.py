"""The measured-data loader: good files load with the stated orientation; every malformed case names the file,
the column and the row; the CrossSim data (when present) loads as its README describes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.fit.data import MIN_PULSES, load_curves, load_pulse_data

from helpers import CROSSSIM


def _curve(n=30, g0=1e-6, dg=1e-8, sign=1):
    return g0 + sign * dg * np.arange(n)


def write_csv(path: Path, columns: dict, extra_rows=()) -> Path:
    """A CSV of `columns` {name: values} (shorter columns end in empty cells) plus raw `extra_rows`."""
    names = list(columns)
    n = max(len(v) for v in columns.values())
    lines = [",".join(names)]
    for i in range(n):
        lines.append(",".join(repr(float(columns[k][i])) if i < len(columns[k]) else "" for k in names))
    lines += list(extra_rows)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_loads_rows_as_pulses_and_columns_as_cycles_with_shorter_cycles(tmp_path):
    f = write_csv(tmp_path / "set.csv", {"a": _curve(30), "b": _curve(25, 2e-6)})
    c = load_curves(f, 1)[1]
    assert c.g.shape == (30, 2) and c.names == ("a", "b") and c.sign == 1
    assert list(c.lengths) == [30, 25] and np.isnan(c.g[25:, 1]).all()
    np.testing.assert_allclose(c.g[:, 0], _curve(30))


def test_npz_and_pulse_sign_column_split_runs_into_curves(tmp_path):
    up, down = _curve(20), _curve(16, _curve(20)[-1], sign=-1)
    g = np.concatenate([up, down[1:]])
    sign = np.concatenate([[0], np.ones(19), -np.ones(15)])
    np.savez(tmp_path / "both.npz", g=np.stack([g, g + 1e-7], 1), pulse_sign=sign)
    data = load_pulse_data(both=tmp_path / "both.npz")
    assert data.up.g.shape == (20, 2) and data.down.g.shape == (16, 2)
    np.testing.assert_allclose(data.down.g[:, 0], down)
    assert list(data.files) == ["both.npz"]  # names, not this machine's paths


@pytest.mark.parametrize("case, columns, extra, match", [
    ("uS", {"a": _curve(30, 2e-6) * 1e6}, (), r"set\.csv: column 'a', row 0: .* exceeds 1.0 S.*siemens"),
    ("negative", {"a": _curve(30, -1e-7)}, (), r"column 'a', row 0: negative conductance"),
    ("nan", {"a": _curve(30)}, ("nan",), r"column 'a', row 30: NaN"),
    ("text", {"a": _curve(30)}, ("abc",), r"column 'a', row 30: 'abc' is not a number"),
    ("ragged", {"a": _curve(30)}, ("1e-6,2e-6",), r"row 30 has 2 fields but the header has 1"),
    ("short", {"a": _curve(MIN_PULSES)}, (), r"column 'a' has 9 pulses; at least 10"),
    ("flat", {"a": np.full(30, 1e-6)}, (), r"column 'a' \(rows 0..29\) is flat"),
    ("backwards", {"a": _curve(30, 2e-6, sign=-1)}, (), r"column 'a' .* read as potentiation but .* falls"),
])
def test_malformed_csv_gives_an_error_naming_file_column_and_row(tmp_path, case, columns, extra, match):
    f = write_csv(tmp_path / "set.csv", columns, extra)
    with pytest.raises(ValueError, match=match):
        load_curves(f, 1)


def test_gap_inside_a_cycle_is_an_error(tmp_path):
    g = _curve(30)
    lines = ["a,b"] + [f"{g[i]:.6e},{g[i]:.6e}" if i != 7 else f",{g[i]:.6e}" for i in range(30)]
    (tmp_path / "gap.csv").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"gap\.csv: column 'a', row 7: missing value or NaN inside the cycle"):
        load_curves(tmp_path / "gap.csv", 1)


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.ones(3)}, r"needs an array 'g'"),
    ({"g": np.ones((2, 2, 2))}, r"'g' must be \[n_rows, n_cycles\]"),
    ({"g": np.where(np.arange(30)[:, None] == 4, np.nan, _curve(30)[:, None])}, r"column 'cycle0', row 4"),
])
def test_malformed_npz_gives_a_clear_error(tmp_path, arrays, match):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_curves(tmp_path / "d.npz", 1)


def test_missing_unknown_and_polarity_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_curves(tmp_path / "none.csv", 1)
    (tmp_path / "d.txt").write_text("a\n1\n")
    with pytest.raises(ValueError, match="unknown format '.txt'"):
        load_curves(tmp_path / "d.txt", 1)
    f = write_csv(tmp_path / "set.csv", {"a": _curve(30)})
    with pytest.raises(ValueError, match="pulse_sign"):
        load_curves(f)
    with pytest.raises(ValueError, match="no measured data"):
        load_pulse_data()


@pytest.mark.skipif(not (CROSSSIM / "set.csv").is_file(), reason=f"CrossSim data not found at {CROSSSIM}")
def test_crosssim_data_load_as_its_readme_says():
    data = load_pulse_data(CROSSSIM / "set.csv", CROSSSIM / "reset.csv")
    assert data.up.n_curves == 39 and data.down.n_curves == 40
    assert data.up.g.shape[0] == 192 and data.down.g.shape[0] == 153
    lo, hi = data.g_range()
    assert 150e-6 < lo < hi < 260e-6


def test_unusable_columns_are_left_out_with_their_reasons(tmp_path):
    rng = np.random.default_rng(0)
    noisy = _curve(60, dg=2e-8) + 5e-8 * rng.standard_normal(60)  # read noise of 2.5 steps: still usable
    columns = {"good": _curve(60), "noisy": noisy, "flat": np.full(60, 1e-6) + 5e-8 * rng.standard_normal(60),
               "back": _curve(60, 2e-6, sign=-1), "short": _curve(20)}
    f = write_csv(tmp_path / "set.csv", columns)
    with pytest.warns(UserWarning, match="3 of 5 potentiation column"):
        data = load_pulse_data(up=f)
    assert data.up.names == ("good", "noisy") and data.up.g.shape == (60, 2)
    dropped = data.quality()["up"]["dropped"]
    assert set(dropped) == {"flat", "back", "short"}
    assert "is flat" in dropped["flat"] and "falls" in dropped["back"]
    assert "mostly missing: 20 readings of the 60" in dropped["short"]


def test_most_columns_against_their_polarity_is_an_error_naming_them(tmp_path):
    f = write_csv(tmp_path / "set.csv", {"a": _curve(30, 2e-6, sign=-1), "b": _curve(30, 3e-6, sign=-1),
                                         "c": _curve(30)})
    with pytest.raises(ValueError, match=r"most columns \(2 of 3\) run against their polarity.*'a'.*'b'"):
        load_curves(f, 1)
