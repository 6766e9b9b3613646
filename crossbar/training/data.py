"""Dataset loaders for training the MLP: an embedded default (8x8 digits) and MNIST from IDX files.

The embedded default, `load_digits`, ships with scikit-learn and needs no download. MNIST is read from the
standard IDX files (raw or gzip-compressed) in a directory the user names or in the environment variable
`MNIST_DIR`; loading never downloads: `python -m crossbar.training.download mnist DIR` does, once.

Every loader returns a `Dataset` of numpy arrays: inputs `[n, features]` float32 scaled to [0, 1] and labels
`[n]` int32. Files are checked at the boundary (magic numbers, dimensions, length against the header, label
range, matching counts) and a problem raises `FileNotFoundError` or `ValueError` naming the file and the fault.

References:
    Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits" (IDX format).
    E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI ML Repository (8x8 digits).
"""

from __future__ import annotations

import gzip
import numbers
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "load_digits", "load_mnist", "resolved_mnist_dir", "load", "LOADERS", "MNIST_FILES",
           "MNIST_DIR_ENV"]

#: Environment variable naming the MNIST directory when `load_mnist(directory=None)`.
MNIST_DIR_ENV = "MNIST_DIR"

#: The four MNIST IDX files by role; each may also carry a `.gz` suffix.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_MNIST_SHAPE = (28, 28)
_MNIST_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"
_DOWNLOAD_HINT = "get the files with `python -m crossbar.training.download mnist {}`"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset split into train and test sets, held as numpy arrays.

    Not a JAX pytree: it lives outside `jit`; pass its arrays (or batches of them) to the training step.

    Attributes:
        x_train: `[n_train, n_features]` float32 inputs in [0, 1].
        y_train: `[n_train]` int32 labels in `0 .. n_classes - 1`.
        x_test: `[n_test, n_features]` float32 inputs in [0, 1].
        y_test: `[n_test]` int32 labels in `0 .. n_classes - 1`.
        name: short name of the dataset, e.g. "digits" or "mnist".
        n_classes: number of classes.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"`x_{split}` must be [n, features] and `y_{split}` [n] with the same n; "
                    f"got x_{split}.shape={x.shape}, y_{split}.shape={y.shape}"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(
                f"train and test inputs must have the same number of features; "
                f"got x_train.shape={self.x_train.shape}, x_test.shape={self.x_test.shape}"
            )

    @property
    def n_features(self) -> int:
        """Number of input features (784 for MNIST, 64 for the 8x8 digits)."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"n_features={self.n_features}, n_classes={self.n_classes})"
        )


# ----------------------------------------------------------------------------------------------------------
# Embedded default: scikit-learn's 8x8 digits
# ----------------------------------------------------------------------------------------------------------


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """The 8x8 handwritten digits shipped with scikit-learn (1797 samples, 64 features, 10 classes).

    Pixel values 0..16 are scaled to [0, 1] by dividing by 16. The train/test split is stratified by class and
    fixed by `seed`, so the same arguments always give the same arrays.

    Args:
        test_fraction: fraction of the samples held out for testing, in (0, 1).
        seed: seed of the split's shuffle.

    Returns:
        A `Dataset` named "digits" with 64 features and 10 classes.

    Raises:
        ValueError: if `test_fraction` is not in (0, 1) or `seed` is not an integer.

    References:
        E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI ML Repository (1998).
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must lie strictly between 0 and 1; got test_fraction={test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`seed` must be an integer; got seed={seed!r}")
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=float(test_fraction), random_state=int(seed), stratify=y
    )
    return Dataset(
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        name="digits",
        n_classes=10,
    )


# ----------------------------------------------------------------------------------------------------------
# MNIST from IDX files
# ----------------------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (detected from its first bytes, not its name)."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:  # truncated stream, bad header or CRC, corrupt deflate data
        raise ValueError(f"{path}: corrupted or truncated gzip file ({type(err).__name__}: {err})") from err


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file and check its header against its length.

    Args:
        path: the file, raw or gzip-compressed.
        magic: expected magic number (2051 for images, 2049 for labels).
        ndim: number of dimensions the magic number implies.

    Returns:
        uint8 array of the shape in the header (a read-only view of the file's bytes).
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(data)} bytes, too short for the 4-byte magic number")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if magic == _IDX_IMAGES_MAGIC else "labels"
        raise ValueError(
            f"{path}: bad magic number {found} (0x{found:08x}); an IDX {kind} file starts with {magic} "
            f"(0x{magic:08x}); is this the right file, and is it uncompressed or gzip?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX file: {len(data)} bytes, shorter than its {header}-byte header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: file length does not match its header ({what}): header says shape {shape}, "
            f"so {expected} bytes, but the file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_mnist_files(directory: Path) -> dict[str, Path]:
    """Locate the four MNIST files, raw preferred over `.gz` when both exist."""
    found, missing = {}, []
    for role, stem in MNIST_FILES.items():
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{stem}[.gz]")
    if missing:
        accepted = ", ".join(f"{stem} or {stem}.gz" for stem in MNIST_FILES.values())
        raise FileNotFoundError(
            f"MNIST directory {directory} lacks {len(missing)} of the 4 IDX files: missing {', '.join(missing)}. "
            f"Accepted names: {accepted}; {_DOWNLOAD_HINT.format(directory)}"
        )
    return found


def _check_limit(name: str, limit, available: int, path: Path) -> int:
    if limit is None:
        return available
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"`{name}` must be a positive integer or None; got {name}={limit!r}")
    if limit > available:
        raise ValueError(f"`{name}` exceeds the {available} samples in {path}; got {name}={limit!r}")
    return int(limit)


def _load_split(images_path: Path, labels_path: Path, limit_name: str, limit) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC, 3)
    if images.shape[1:] != _MNIST_SHAPE:
        raise ValueError(
            f"{images_path}: MNIST images must be {_MNIST_SHAPE[0]}x{_MNIST_SHAPE[1]}; "
            f"header says {images.shape[1]}x{images.shape[2]}"
        )
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"image and label counts differ: {images_path} holds {images.shape[0]} images, "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= _MNIST_CLASSES:
        bad = np.flatnonzero(labels >= _MNIST_CLASSES)
        raise ValueError(
            f"{labels_path}: labels must lie in 0..{_MNIST_CLASSES - 1}; found {bad.size} out of range, "
            f"first at index {bad[0]} with value {labels[bad[0]]}"
        )
    n = _check_limit(limit_name, limit, images.shape[0], images_path)
    x = images[:n].reshape(n, -1).astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)  # in place; exactly the correctly rounded k / 255
    y = labels[:n].astype(np.int32)
    return x, y


def resolved_mnist_dir(directory: str | os.PathLike | None = None) -> str | None:
    """The absolute folder `load_mnist(directory)` reads: `directory`, else `$MNIST_DIR`; None when neither is set.

    For work sent to other processes or machines (a dask cluster's workers), whose working directory and
    environment are not this one's.
    """
    chosen = directory or os.environ.get(MNIST_DIR_ENV) or None
    return str(Path(chosen).expanduser().resolve()) if chosen else None


def load_mnist(directory: str | os.PathLike | None = None, *, limit_train: int | None = None,
               limit_test: int | None = None) -> Dataset:
    """MNIST (60,000 train + 10,000 test 28x28 digits) from the standard IDX files.

    The directory must hold `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
    and `t10k-labels-idx1-ubyte`, each either raw or gzip-compressed with a `.gz` suffix (the raw file is
    used when both exist). Pixels are scaled to [0, 1] by dividing by 255 and flattened to 784 features in
    row-major order.

    Args:
        directory: folder holding the files; when None, the environment variable `MNIST_DIR` names it.
        limit_train: when given, keep only the first `limit_train` training samples.
        limit_test: when given, keep only the first `limit_test` test samples.

    Returns:
        A `Dataset` named "mnist" with 784 features and 10 classes.

    Raises:
        FileNotFoundError: if no directory is given and `MNIST_DIR` is unset, the directory does not exist,
            or any of the four files is missing (the message lists the missing files and the accepted names).
        ValueError: if a file is corrupted: bad magic number, truncated gzip stream, length that does not match
            its header, images not 28x28, label outside 0..9, image and label counts that differ; or if a
            limit is not a positive integer no larger than the split.

    References:
        Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits" (1998).
    """
    if directory is None:
        env = os.environ.get(MNIST_DIR_ENV, "")
        if not env:
            raise FileNotFoundError(
                f"no MNIST directory given: pass `directory=` or set the environment variable {MNIST_DIR_ENV} "
                f"to a folder holding the four IDX files ({', '.join(MNIST_FILES.values())}, optionally .gz); "
                f"{_DOWNLOAD_HINT.format('DIR')}"
            )
        path = Path(env).expanduser()
        source = f" (from {MNIST_DIR_ENV})"
    else:
        path = Path(directory).expanduser()
        source = ""
    if not path.exists():
        raise FileNotFoundError(f"MNIST directory {path}{source} does not exist; {_DOWNLOAD_HINT.format(path)}")
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST directory {path}{source} is not a directory")
    files = _find_mnist_files(path)
    x_train, y_train = _load_split(files["train_images"], files["train_labels"], "limit_train", limit_train)
    x_test, y_test = _load_split(files["test_images"], files["test_labels"], "limit_test", limit_test)
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, name="mnist",
                   n_classes=_MNIST_CLASSES)


# ----------------------------------------------------------------------------------------------------------
# Loading by name
# ----------------------------------------------------------------------------------------------------------

#: Loaders by the name the CLI and the experiments use.
LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
}


def load(name: str, **kwargs) -> Dataset:
    """Load a dataset by name.

    Args:
        name: "digits" (embedded, no download) or "mnist" (IDX files; see `load_mnist`).
        **kwargs: passed to the loader, e.g. `load("mnist", directory="data/mnist", limit_train=1000)`.

    Returns:
        The `Dataset`.

    Raises:
        ValueError: if `name` is not a known dataset (the message lists the valid names).
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in LOADERS:
        raise ValueError(f"unknown dataset name={name!r}; valid names: {', '.join(sorted(LOADERS))}")
    return LOADERS[key](**kwargs)
