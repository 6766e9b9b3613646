"""Tests of `crossbar.training.data`: the embedded digits, MNIST from its IDX files (if present), IDX format checks."""

from __future__ import annotations

import gzip
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from crossbar.training import data
from crossbar.training.data import Dataset, load, load_digits, load_mnist

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _mnist_dir() -> Path:
    """MNIST_DIR if set, else the repository's `data/mnist`, where `python -m crossbar.training.download mnist
    data/mnist` puts the files."""
    env = os.environ.get("MNIST_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data" / "mnist"


MNIST_DIR = _mnist_dir()
_HAVE_MNIST = all(
    (MNIST_DIR / stem).is_file() or (MNIST_DIR / f"{stem}.gz").is_file() for stem in data.MNIST_FILES.values()
)
needs_mnist = pytest.mark.skipif(
    not _HAVE_MNIST, reason=f"MNIST IDX files not found in {MNIST_DIR} (set MNIST_DIR to a folder holding them)"
)


# ----------------------------------------------------------------------------------------------------------
# Synthetic IDX files
# ----------------------------------------------------------------------------------------------------------


def _idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 2051 if arr.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def _write(path: Path, payload: bytes, compress: bool) -> Path:
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def _make_mnist(directory: Path, n_train=7, n_test=5, compress=True, seed=0) -> dict[str, np.ndarray]:
    """Write four small valid MNIST-format files and return their content."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for role, stem in data.MNIST_FILES.items():
        _write(directory / stem, _idx_bytes(arrays[role]), compress)
    return arrays


def _path(directory: Path, role: str) -> Path:
    stem = data.MNIST_FILES[role]
    return directory / stem if (directory / stem).exists() else directory / f"{stem}.gz"


# ----------------------------------------------------------------------------------------------------------
# Embedded digits
# ----------------------------------------------------------------------------------------------------------


def test_digits_shapes_dtypes_range():
    ds = load_digits()
    assert isinstance(ds, Dataset)
    assert ds.name == "digits" and ds.n_classes == 10 and ds.n_features == 64
    assert ds.n_train + ds.n_test == 1797
    assert ds.n_test == pytest.approx(0.25 * 1797, abs=1)
    assert ds.x_train.shape == (ds.n_train, 64) and ds.x_test.shape == (ds.n_test, 64)
    assert ds.y_train.shape == (ds.n_train,) and ds.y_test.shape == (ds.n_test,)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    for x in (ds.x_train, ds.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # Pixels are k/16 exactly.
    np.testing.assert_array_equal(ds.x_train * 16, np.round(ds.x_train * 16))


def test_digits_split_is_deterministic_and_seeded():
    a, b = load_digits(seed=3), load_digits(seed=3)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = load_digits(seed=4)
    assert not np.array_equal(a.y_train, c.y_train)


def test_digits_all_classes_in_both_splits_stratified():
    ds = load_digits(test_fraction=0.2)
    for y in (ds.y_train, ds.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.size == 10 and counts.min() > 0
    frac = np.bincount(ds.y_test, minlength=10) / (
        np.bincount(ds.y_train, minlength=10) + np.bincount(ds.y_test, minlength=10)
    )
    np.testing.assert_allclose(frac, 0.2, atol=0.02)


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.5, -0.1, True, "0.2"])
def test_digits_rejects_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)


def test_load_by_name():
    assert load("digits").name == "digits"
    assert load(" Digits ", seed=1).n_features == 64
    with pytest.raises(ValueError, match="valid names: digits, mnist"):
        load("cifar10")


# ----------------------------------------------------------------------------------------------------------
# Full MNIST, where its files are present
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    t0 = time.perf_counter()
    ds = load_mnist(MNIST_DIR)
    elapsed = time.perf_counter() - t0
    assert elapsed < 10.0, f"loading MNIST took {elapsed:.1f} s"
    return ds


@needs_mnist
def test_mnist_shapes_and_dtypes(mnist):
    assert mnist.name == "mnist" and mnist.n_classes == 10 and mnist.n_features == 784
    assert mnist.x_train.shape == (60000, 784) and mnist.y_train.shape == (60000,)
    assert mnist.x_test.shape == (10000, 784) and mnist.y_test.shape == (10000,)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int32
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0


@needs_mnist
def test_mnist_statistics(mnist):
    assert np.bincount(mnist.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test, minlength=10).sum() == 10000
    assert float(mnist.x_train.mean(dtype=np.float64)) == pytest.approx(0.1307, abs=1e-4)
    assert float(mnist.x_train.std(dtype=np.float64)) == pytest.approx(0.3081, abs=1e-4)


@needs_mnist
def test_mnist_from_env_var_and_by_name(monkeypatch, mnist):
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    ds = load("mnist", limit_train=100, limit_test=50)
    assert ds.x_train.shape == (100, 784) and ds.x_test.shape == (50, 784)
    np.testing.assert_array_equal(ds.x_train, mnist.x_train[:100])
    np.testing.assert_array_equal(ds.y_test, mnist.y_test[:50])


# ----------------------------------------------------------------------------------------------------------
# Synthetic IDX files: formats and limits
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_mnist_roundtrip_gz_and_raw(tmp_path, compress):
    arrays = _make_mnist(tmp_path, compress=compress)
    ds = load_mnist(tmp_path)
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"].reshape(7, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.x_test, arrays["test_images"].reshape(5, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32


def test_mnist_mixed_raw_and_gz(tmp_path):
    arrays = _make_mnist(tmp_path, compress=True)
    raw = tmp_path / data.MNIST_FILES["test_labels"]
    raw.write_bytes(_idx_bytes(arrays["test_labels"]))
    (tmp_path / (raw.name + ".gz")).unlink()
    np.testing.assert_array_equal(load_mnist(str(tmp_path)).y_test, arrays["test_labels"])


def test_mnist_limits(tmp_path):
    arrays = _make_mnist(tmp_path)
    ds = load_mnist(tmp_path, limit_train=3, limit_test=2)
    assert ds.x_train.shape == (3, 784) and ds.y_test.shape == (2,)
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"][:3])
    assert load_mnist(tmp_path, limit_train=7).n_train == 7
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit_train"):
            load_mnist(tmp_path, limit_train=bad)
    with pytest.raises(ValueError, match="limit_test.*exceeds|exceeds.*limit_test"):
        load_mnist(tmp_path, limit_test=6)


# ----------------------------------------------------------------------------------------------------------
# Synthetic IDX files: errors
# ----------------------------------------------------------------------------------------------------------


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(missing))}.*does not exist"):
        load_mnist(missing)


def test_no_directory_and_no_env(monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="MNIST_DIR"):
        load_mnist()


def test_env_var_names_missing_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="gone.*from MNIST_DIR.*does not exist"):
        load_mnist()


def test_missing_files_listed_with_accepted_names(tmp_path):
    _make_mnist(tmp_path)
    _path(tmp_path, "train_labels").unlink()
    _path(tmp_path, "test_images").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg and "2 of the 4" in msg
    assert "train-labels-idx1-ubyte[.gz]" in msg and "t10k-images-idx3-ubyte[.gz]" in msg
    assert "Accepted names" in msg and "train-images-idx3-ubyte.gz" in msg


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_bad_magic(tmp_path, compress):
    arrays = _make_mnist(tmp_path, compress=compress)
    # Labels written where the images belong: magic 2049 instead of 2051.
    path = _path(tmp_path, "train_images")
    path.unlink()
    path = _write(tmp_path / data.MNIST_FILES["train_images"], _idx_bytes(arrays["train_labels"]), compress)
    with pytest.raises(ValueError, match=f"{path.name}: bad magic number 2049.*2051"):
        load_mnist(tmp_path)


def test_bad_magic_labels(tmp_path):
    arrays = _make_mnist(tmp_path, compress=False)
    (tmp_path / data.MNIST_FILES["test_labels"]).write_bytes(_idx_bytes(arrays["test_labels"], magic=2051))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: bad magic number 2051.*2049"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_truncated_payload(tmp_path, compress):
    arrays = _make_mnist(tmp_path, compress=compress)
    path = _write(tmp_path / data.MNIST_FILES["test_images"], _idx_bytes(arrays["test_images"])[:-100], compress)
    with pytest.raises(ValueError, match=f"{path.name}: file length does not match its header \\(truncated\\)"):
        load_mnist(tmp_path)


def test_trailing_bytes(tmp_path):
    arrays = _make_mnist(tmp_path, compress=False)
    path = tmp_path / data.MNIST_FILES["train_labels"]
    path.write_bytes(_idx_bytes(arrays["train_labels"]) + b"\x00")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: file length.*trailing bytes"):
        load_mnist(tmp_path)


def test_truncated_header(tmp_path):
    _make_mnist(tmp_path, compress=False)
    path = tmp_path / data.MNIST_FILES["train_images"]
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: truncated IDX file.*header"):
        load_mnist(tmp_path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: truncated IDX file.*magic"):
        load_mnist(tmp_path)


def test_truncated_gzip_stream(tmp_path):
    _make_mnist(tmp_path, compress=True)
    path = _path(tmp_path, "train_images")
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: corrupted or truncated gzip"):
        load_mnist(tmp_path)


def test_image_label_count_mismatch(tmp_path):
    arrays = _make_mnist(tmp_path, compress=False)
    (tmp_path / data.MNIST_FILES["train_labels"]).write_bytes(_idx_bytes(arrays["train_labels"][:6]))
    with pytest.raises(ValueError, match="counts differ.*7 images.*6 labels"):
        load_mnist(tmp_path)


def test_label_out_of_range(tmp_path):
    arrays = _make_mnist(tmp_path)
    labels = arrays["test_labels"].copy()
    labels[3] = 10
    (tmp_path / (data.MNIST_FILES["test_labels"] + ".gz")).write_bytes(gzip.compress(_idx_bytes(labels)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: labels must lie in 0..9.*index 3 with value 10"):
        load_mnist(tmp_path)


def test_wrong_image_size(tmp_path):
    _make_mnist(tmp_path, compress=False)
    (tmp_path / data.MNIST_FILES["train_images"]).write_bytes(_idx_bytes(np.zeros((7, 32, 32), np.uint8)))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: MNIST images must be 28x28; header says 32x32"):
        load_mnist(tmp_path)


def test_dataset_checks_shapes():
    x, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int32)
    with pytest.raises(ValueError, match="x_test"):
        Dataset(x, y, x[:2], y, name="t", n_classes=2)
    with pytest.raises(ValueError, match="same number of features"):
        Dataset(x, y, x[:, :2], y, name="t", n_classes=2)
    ds = Dataset(x, y, x, y, name="t", n_classes=2)
    assert "n_features=3" in repr(ds)


def test_resolved_mnist_dir_is_the_absolute_folder_load_mnist_reads(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert data.resolved_mnist_dir() is None
    assert data.resolved_mnist_dir("given") == str(tmp_path / "given")
    monkeypatch.setenv("MNIST_DIR", "from_env")
    assert data.resolved_mnist_dir() == str(tmp_path / "from_env")
    assert data.resolved_mnist_dir("given") == str(tmp_path / "given")  # the argument wins, as in load_mnist
