"""Download MNIST into a folder, checked and resumable: `python -m crossbar.training.download mnist DIR`.

The four gzipped IDX files are fetched from a list of mirrors, tried in order, into `DIR/<name>.gz.part`. A
partial file left by an interrupted run is continued with an HTTP `Range` request (and started over when the
server ignores the range). A file is renamed into place, atomically, only once the SHA-256 of its *uncompressed*
content matches: mirrors recompress the archives, so the `.gz` bytes differ from mirror to mirror while the IDX
content does not. A wrong file is deleted and the next mirror tried; files already present with the right content
are not fetched again. The result is what `crossbar.training.data.load_mnist(DIR)` reads.

Usage:
    python -m crossbar.training.download mnist data/mnist                  # the default mirrors, in order
    python -m crossbar.training.download mnist data/mnist --mirror URL     # URL first, then the default mirrors
    python -m crossbar.training.download mnist data/mnist --mirror URL --no-default-mirrors   # only URL

Only the standard library speaks HTTP (urllib); nothing else is needed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from crossbar.training.data import MNIST_FILES
from devices.validation import check_positive

__all__ = ["download_mnist", "DownloadError", "DEFAULT_MIRRORS", "MNIST_SHA256", "MNIST_SIZES", "main"]

#: Mirrors of the gzipped IDX files, tried in this order (the original site last: it often refuses downloads).
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# SHA-256 of the *uncompressed* IDX files (what `gunzip` gives), by role as in `MNIST_FILES`: identical on every
# mirror, unlike the .gz bytes. Computed from files whose uncompressed content first matched the official md5 of
# the uncompressed MNIST release (train-images 6bbc9ace898e44ae57da46a324031adb, train-labels
# a25bea736e30d166cdddb491f175f624, t10k-images 2646ac647ad5339dbf082846283269ea, t10k-labels
# 27ae3e4e09519cfbb04c329615203637), so a file that passes is byte for byte the official one.
MNIST_SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# Uncompressed sizes in bytes (16- or 8-byte header + one byte per pixel or label). The .gz files are about 9.9 MB,
# 29 kB, 1.6 MB and 4.5 kB; their exact sizes depend on the mirror's compression.
MNIST_SIZES = {"train_images": 47_040_016, "train_labels": 60_008, "test_images": 7_840_016, "test_labels": 10_008}

_CHUNK = 1 << 16
_USER_AGENT = "memristor-crossbar-mnist-download (python urllib)"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# What a mirror can throw at us: HTTP status errors, refused/unreachable hosts (URLError), timeouts, dropped
# connections and malformed responses. Anything else is a bug and should surface as one.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


class DownloadError(OSError):
    """Some file could not be fetched from any mirror; the message says what failed on which mirror."""


class _Unusable(Exception):
    """A mirror's answer that cannot be used (e.g. a range the server answered from another offset)."""


def _reason(err: BaseException, timeout: float) -> str:
    """A short, human-readable reason for a failed request."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):  # a failure before any HTTP answer: the socket error behind it
        err = err.reason
        if isinstance(err, str):
            return err
    if isinstance(err, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return f"timed out after {timeout:g} s"
    if isinstance(err, _Unusable):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _unreachable(err: BaseException) -> bool:
    """True when the mirror was not reached at all (no connection, DNS failure, timeout), as when offline."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        return True
    return isinstance(err, (TimeoutError, ConnectionError, socket.gaierror))


def _sha256_of(path: Path, compressed: bool) -> tuple[str | None, int, str]:
    """(hex digest, size, problem) of the file's content, uncompressed through gzip when `compressed`."""
    digest, size = hashlib.sha256(), 0
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError; EOFError: truncated stream
        return None, size, f"not a complete gzip file ({type(err).__name__}: {err})"
    return digest.hexdigest(), size, ""


def _check(path: Path, expected: str, compressed: bool = True) -> str:
    """Empty when the (uncompressed) content of `path` has the SHA-256 `expected`; else what is wrong."""
    digest, size, problem = _sha256_of(path, compressed)
    if problem:
        return problem
    if digest != expected:
        what = "uncompressed content" if compressed else "content"
        return f"sha256 mismatch: {what} has sha256 {digest[:16]}... ({size} bytes), expected {expected[:16]}..."
    return ""


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Download `url` into `part`, continuing the bytes already in `part` with a Range request.

    Keeps whatever arrived when the transfer breaks (the next attempt resumes from it); raises the network error.
    A server that ignores the range (200 instead of 206) sends the whole file, which replaces the part.
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing after `offset`: the part may already be whole; the check decides
            return
        raise
    with response:
        if offset and response.status == 206:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _Unusable(f"asked for bytes from {offset}, got Content-Range "
                                f"{response.headers.get('Content-Range')!r}")
        else:
            offset = 0  # the whole file: start the part over
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, "ab" if offset else "wb") as f, tqdm(
            total=None if expected is None else offset + expected, initial=offset, unit="B", unit_scale=True,
            unit_divisor=1024, desc=part.name.removesuffix(".part"), disable=not progress, leave=False,
        ) as bar:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())  # the rename that follows must not publish a file whose bytes are not on disk
        if expected is not None and received < expected:
            raise http.client.IncompleteRead(b"", expected - received)


def _download_one(name: str, directory: Path, mirrors: Sequence[str], sha256: str, timeout: float,
                  progress: bool) -> tuple[Path | None, list[tuple[str, str, bool]]]:
    """Fetch `name` (a .gz file) from the first mirror that gives the right content.

    Returns:
        (final path or None, [(mirror, reason, unreachable)] of the mirrors that failed).
    """
    final, part = directory / name, directory / f"{name}.part"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        # A resumed part that fails the check may have begun on another mirror (another compression): retry from
        # zero once on this mirror before blaming it.
        for fresh in (False, True):
            if fresh:
                part.unlink(missing_ok=True)
            resumed = part.is_file() and part.stat().st_size > 0
            try:
                _fetch(url, part, timeout, progress)
            except (_Unusable, *_NETWORK_ERRORS) as err:
                failures.append((mirror, _reason(err, timeout), _unreachable(err)))
                break  # keep the part: a later run (or mirror) continues it
            problem = _check(part, sha256)
            if not problem:
                os.replace(part, final)  # atomic: `final` is either absent, the old file, or the checked one
                return final, failures
            part.unlink(missing_ok=True)
            if not resumed:
                failures.append((mirror, problem, False))
                break
    return None, failures


def _validate(directory, mirrors, checksums, timeout) -> tuple[Path, tuple[str, ...], dict[str, str]]:
    if not isinstance(directory, (str, os.PathLike)) or not str(directory):
        raise ValueError(f"`directory` must be a non-empty path; got directory={directory!r}")
    mirrors = DEFAULT_MIRRORS if mirrors is None else mirrors
    if isinstance(mirrors, str) or not isinstance(mirrors, Sequence) or not mirrors:
        raise ValueError(f"`mirrors` must be a non-empty list of http(s) URLs or None; got mirrors={mirrors!r}")
    for url in mirrors:
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"`mirrors` must hold http(s) URLs of a folder with the .gz files; got {url!r}")
    checksums = MNIST_SHA256 if checksums is None else checksums
    if not isinstance(checksums, Mapping) or set(checksums) != set(MNIST_FILES):
        raise ValueError(f"`checksums` must map each of {', '.join(MNIST_FILES)} to a SHA-256 hex digest; "
                         f"got checksums={checksums!r}")
    for role, digest in checksums.items():
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
            raise ValueError(f"`checksums[{role!r}]` must be 64 hex digits; got {digest!r}")
    check_positive("timeout", timeout)
    return Path(directory).expanduser(), tuple(mirrors), {k: v.lower() for k, v in checksums.items()}


def download_mnist(directory: str | os.PathLike, mirrors: Sequence[str] | None = None, *,
                   checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
                   progress: bool = True) -> dict[str, Path]:
    """Download the four MNIST IDX files (gzipped) into `directory`, checked against their SHA-256.

    Each file is tried on every mirror in order until one gives content with the expected SHA-256 (of the
    uncompressed IDX bytes). A `NAME.gz.part` left by an interrupted run is continued with an HTTP Range request;
    a file already in `directory` with the right content (`NAME.gz`, or the uncompressed `NAME`) is kept as is.

    Args:
        directory: folder to write into; created when missing.
        mirrors: base URLs holding the four `.gz` files, tried in order; None for `DEFAULT_MIRRORS`.
        checksums: SHA-256 of each uncompressed file by role (the keys of `MNIST_FILES`); None for the real
            MNIST's (`MNIST_SHA256`). Tests pass their own to serve small fake files.
        timeout: seconds a connection or a read may stall before the mirror counts as failed.
        progress: show a progress bar per file (on stderr).

    Returns:
        The path of each file by role (the keys of `MNIST_FILES`), ready for `load_mnist(directory)`.

    Raises:
        ValueError: if an argument is malformed (the message names it and its value).
        DownloadError: if some file could not be fetched with the right content from any mirror, or an
            uncompressed file already there has other content (which `load_mnist` would read before the `.gz`);
            the message lists the reason for each file and mirror. Parts already downloaded are kept for a rerun.
    """
    folder, mirrors, checksums = _validate(directory, mirrors, checksums, timeout)
    if folder.exists() and not folder.is_dir():
        raise DownloadError(f"{folder} exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    paths, failed = {}, {}
    live = list(mirrors)  # a mirror not reached once is not tried again for the next files (offline: one wait)
    for role, stem in MNIST_FILES.items():
        raw, gz = folder / stem, folder / f"{stem}.gz"
        if raw.is_file():  # load_mnist reads the uncompressed file first: it must be the right one
            problem = _check(raw, checksums[role], compressed=False)
            if problem:
                failed[stem] = [(str(raw), f"{problem}; load_mnist reads it before {gz.name}: remove or replace it",
                                 False)]
            else:
                paths[role] = raw
            continue
        if gz.is_file() and not _check(gz, checksums[role]):
            paths[role] = gz
            continue
        if not live:
            failed[f"{stem}.gz"] = [("every mirror", "not reachable (see the first file)", True)]
            continue
        path, failures = _download_one(gz.name, folder, live, checksums[role], timeout, progress)
        live = [m for m in live if not any(m == where and unreachable for where, _, unreachable in failures)]
        if path is None:
            failed[f"{stem}.gz"] = failures
        else:
            paths[role] = path
    if failed:
        raise DownloadError(_failure_message(failed, folder, mirrors))
    return paths


def _failure_message(failed: dict[str, list[tuple[str, str, bool]]], folder: Path, mirrors: Sequence[str]) -> str:
    """One line: what failed where, and how to get the files by hand."""
    attempts = [a for tries in failed.values() for a in tries]
    by_hand = (f"download the files by hand into {folder} (names: "
               f"{', '.join(f'{stem}.gz' for stem in MNIST_FILES.values())}) or name another mirror with --mirror")
    if attempts and all(unreachable for _, _, unreachable in attempts):
        hosts = ", ".join(dict.fromkeys(urllib.parse.urlsplit(m).netloc for m in mirrors))
        return f"could not reach any mirror ({hosts}): {attempts[0][1]}; {by_hand}"
    parts = [f"{name}: " + "; ".join(f"{where}: {reason}" for where, reason, _ in tries)
             for name, tries in failed.items()]
    return f"could not get {len(failed)} of the {len(MNIST_FILES)} MNIST files: " + " | ".join(parts) + f"; {by_hand}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m crossbar.training.download",
        description="Download a dataset into a folder, checked against its SHA-256 and resumable.",
        epilog="Mirrors tried in order: " + ", ".join(DEFAULT_MIRRORS) + ". Each file's uncompressed content is "
               "checked against its SHA-256; an interrupted download resumes on the next run.",
    )
    p.add_argument("dataset", choices=["mnist"], help="the dataset to download")
    p.add_argument("directory", metavar="DIR", help="folder to write the files into (created when missing); "
                                                    "then use --mnist-dir DIR or MNIST_DIR=DIR")
    p.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="a base URL holding the .gz files, tried before the default mirrors (repeatable)")
    p.add_argument("--no-default-mirrors", action="store_true",
                   help="try only the --mirror URLs, not the default mirrors")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a connection or read may stall (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Path]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_default_mirrors and not args.mirror:
        parser.error("--no-default-mirrors needs at least one --mirror URL")
    mirrors = list(args.mirror) + ([] if args.no_default_mirrors else list(DEFAULT_MIRRORS))
    try:
        paths = download_mnist(args.directory, list(dict.fromkeys(mirrors)), timeout=args.timeout,
                               progress=not args.quiet)
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    except OSError as err:  # DownloadError, or the folder cannot be created or written
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted; run the same command again to resume\n")
    for path in paths.values():
        print(path)
    print(f"MNIST is in {args.directory}: use --mnist-dir {args.directory} or MNIST_DIR={args.directory}",
          file=sys.stderr)
    return paths


if __name__ == "__main__":
    main()
