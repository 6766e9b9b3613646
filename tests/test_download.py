"""crossbar.training.download: MNIST fetched from mirrors in order, checked on its uncompressed SHA-256, resumed
with Range requests, never fetched twice; clear errors offline. Everything is served from 127.0.0.1 (small fake IDX
files, their checksums passed in), and the default mirrors are replaced so that nothing can reach the internet."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from crossbar.training import download
from crossbar.training.data import MNIST_FILES, load_mnist
from crossbar.training.download import DownloadError, download_mnist

N_TRAIN, N_TEST = 10, 6


def idx_images(n: int, seed: int) -> bytes:
    """Mostly-zero images, like digits: compressible, so compression levels give different .gz bytes."""
    rng = np.random.default_rng(seed)
    pixels = np.where(rng.random((n, 28, 28)) < 0.8, 0, rng.integers(1, 256, (n, 28, 28))).astype(np.uint8)
    return (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + pixels.tobytes()


def idx_labels(n: int, seed: int) -> bytes:
    labels = np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)
    return (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes()


# The uncompressed fake files by role, and their SHA-256 (what download_mnist checks instead of the real MNIST's).
RAW = {"train_images": idx_images(N_TRAIN, 1), "train_labels": idx_labels(N_TRAIN, 2),
       "test_images": idx_images(N_TEST, 3), "test_labels": idx_labels(N_TEST, 4)}
CHECKSUMS = {role: hashlib.sha256(data).hexdigest() for role, data in RAW.items()}


def gz_files(level: int, raw=RAW) -> dict[str, bytes]:
    """{name.gz: bytes} as a mirror serves them; mirrors differ in compression level, like the real ones."""
    return {f"{MNIST_FILES[role]}.gz": gzip.compress(data, compresslevel=level, mtime=0) for role, data in raw.items()}


class Mirrors:
    """An HTTP server on 127.0.0.1 serving folders /<name>/ of files, logging every request and the bytes sent.

    Each folder has a mode: "range" (honours `Range: bytes=N-` with 206), "ignore-range" (always 200, whole file)
    or "cut" (announces the whole length, sends half, closes: a transfer that breaks).
    """

    def __init__(self):
        self.folders: dict[str, tuple[dict[str, bytes], str]] = {}
        self.log: list[dict] = []
        mirrors = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                folder, _, name = self.path.strip("/").partition("/")
                files, mode = mirrors.folders.get(folder, ({}, "range"))
                entry = {"folder": folder, "name": name, "range": self.headers.get("Range"), "sent": 0}
                mirrors.log.append(entry)
                if name not in files:
                    self.send_error(404)
                    return
                data, start = files[name], 0
                if entry["range"] and mode == "range":
                    start = int(entry["range"].removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut":
                    body = body[: len(body) // 2]
                self.wfile.write(body)
                entry["sent"] = len(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, folder: str, files: dict[str, bytes], mode: str = "range") -> str:
        self.folders[folder] = (files, mode)
        return f"http://127.0.0.1:{self.server.server_port}/{folder}/"

    def requests(self, folder: str | None = None) -> list[dict]:
        return [e for e in self.log if folder is None or e["folder"] == folder]


@pytest.fixture
def mirrors():
    m = Mirrors()
    yield m
    m.server.shutdown()
    m.server.server_close()


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """The default mirrors point nowhere (a closed local port), whatever a test forgets to pass."""
    monkeypatch.setattr(download, "DEFAULT_MIRRORS", (f"http://127.0.0.1:{closed_port()}/",))


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(directory, mirror_urls, timeout=5.0, **kwargs):
    return download_mnist(directory, mirror_urls, checksums=CHECKSUMS, timeout=timeout, progress=False, **kwargs)


def assert_complete(directory: Path):
    """The four files are in place, no part is left, and load_mnist reads exactly the served content."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{s}.gz" for s in MNIST_FILES.values())
    data = load_mnist(directory)
    images = np.frombuffer(RAW["train_images"], np.uint8, offset=16).reshape(N_TRAIN, 784)
    np.testing.assert_array_equal(data.x_train, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(data.y_test, np.frombuffer(RAW["test_labels"], np.uint8, offset=8))
    assert (data.n_train, data.n_test) == (N_TRAIN, N_TEST)


def test_download_gives_files_that_load_mnist_reads(tmp_path, mirrors):
    url = mirrors.add("a", gz_files(9))
    paths = get(tmp_path / "mnist", [url])
    assert paths == {role: tmp_path / "mnist" / f"{stem}.gz" for role, stem in MNIST_FILES.items()}
    assert_complete(tmp_path / "mnist")
    assert len(mirrors.requests()) == 4 and all(e["range"] is None for e in mirrors.requests())


def test_a_corrupt_first_mirror_falls_through_to_the_second(tmp_path, mirrors):
    wrong = {name: data[:-12] + bytes(12) for name, data in gz_files(9).items()}  # CRC and length zeroed
    bad = mirrors.add("bad", wrong)
    good = mirrors.add("good", gz_files(1))  # another compression, the same content: accepted
    get(tmp_path, [bad, good])
    assert_complete(tmp_path)
    assert len(mirrors.requests("bad")) == 4 and len(mirrors.requests("good")) == 4


def test_a_mirror_serving_other_content_is_refused_and_the_error_lists_every_mirror(tmp_path, mirrors):
    other = mirrors.add("other", gz_files(9, {role: data[:-1] + b"\x07" for role, data in RAW.items()}))
    missing = mirrors.add("missing", {})
    with pytest.raises(DownloadError) as err:
        get(tmp_path, [other, missing])
    message = str(err.value)
    assert "could not get 4 of the 4 MNIST files" in message
    for stem in MNIST_FILES.values():
        assert f"{stem}.gz: {other}: sha256 mismatch" in message
    assert message.count(f"{missing}: HTTP 404") == 4
    assert list(tmp_path.iterdir()) == []  # nothing wrong kept, no part left


def test_a_partial_file_is_resumed_with_a_range_request(tmp_path, mirrors):
    files = gz_files(9)
    url = mirrors.add("a", files)
    name = f"{MNIST_FILES['train_images']}.gz"
    k = len(files[name]) // 3
    (tmp_path / f"{name}.part").write_bytes(files[name][:k])
    get(tmp_path, [url])
    assert_complete(tmp_path)
    [entry] = [e for e in mirrors.requests() if e["name"] == name]
    assert entry["range"] == f"bytes={k}-" and entry["sent"] == len(files[name]) - k


def test_a_broken_transfer_keeps_its_part_and_the_next_run_resumes_it(tmp_path, mirrors):
    files = gz_files(9)
    cut = mirrors.add("cut", files, mode="cut")
    with pytest.raises(DownloadError, match="IncompleteRead"):
        get(tmp_path, [cut])
    parts = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert parts == {f"{name}.part": len(data) // 2 for name, data in files.items()}
    url = mirrors.add("a", files)
    get(tmp_path, [url])
    assert_complete(tmp_path)
    sent = {e["name"]: e for e in mirrors.requests("a")}
    for name, data in files.items():
        assert sent[name]["range"] == f"bytes={len(data) // 2}-"
        assert sent[name]["sent"] == len(data) - len(data) // 2


def test_a_server_that_ignores_the_range_still_gives_a_correct_file(tmp_path, mirrors):
    files = gz_files(9)
    url = mirrors.add("plain", files, mode="ignore-range")
    name = f"{MNIST_FILES['test_images']}.gz"
    (tmp_path / f"{name}.part").write_bytes(files[name][: len(files[name]) // 2])
    get(tmp_path, [url])
    assert_complete(tmp_path)
    [entry] = [e for e in mirrors.requests() if e["name"] == name]
    assert entry["range"] is not None and entry["sent"] == len(files[name])  # asked to resume, got it all


def test_a_part_begun_on_another_mirror_is_started_over(tmp_path, mirrors):
    """Mirrors compress differently: a part of one continued from another fails the check, then is redone."""
    mine, theirs = gz_files(9), gz_files(1)
    name = f"{MNIST_FILES['train_images']}.gz"
    k = len(theirs[name]) // 2
    spliced = theirs[name][:k] + mine[name][k:]
    try:  # the premise: the splice is not a valid stream of the content
        splice_is_valid = gzip.decompress(spliced) == RAW["train_images"]
    except (OSError, EOFError, zlib.error):
        splice_is_valid = False
    assert not splice_is_valid
    (tmp_path / f"{name}.part").write_bytes(theirs[name][:k])
    url = mirrors.add("a", mine)
    get(tmp_path, [url])
    assert_complete(tmp_path)
    assert [e["range"] for e in mirrors.requests() if e["name"] == name] == [f"bytes={k}-", None]


def test_files_already_present_are_not_fetched_again(tmp_path, mirrors):
    url = mirrors.add("a", gz_files(9))
    first = get(tmp_path, [url])
    n = len(mirrors.requests())
    assert get(tmp_path, [url]) == first
    assert len(mirrors.requests()) == n  # no request at all
    # an uncompressed file with the right content counts too; one with other content is an error, not shadowed
    stem = MNIST_FILES["test_labels"]
    (tmp_path / f"{stem}.gz").unlink()
    (tmp_path / stem).write_bytes(RAW["test_labels"])
    assert get(tmp_path, [url])["test_labels"] == tmp_path / stem and len(mirrors.requests()) == n
    (tmp_path / stem).write_bytes(RAW["test_labels"][:-1] + b"\x09")
    with pytest.raises(DownloadError, match=f"{stem}: sha256 mismatch.*remove or replace it"):
        get(tmp_path, [url])


def test_an_unreachable_mirror_gives_a_clear_error(tmp_path):
    port = closed_port()
    with pytest.raises(DownloadError) as err:
        get(tmp_path / "mnist", [f"http://127.0.0.1:{port}/mnist/"])
    message = str(err.value)
    assert message.startswith(f"could not reach any mirror (127.0.0.1:{port}): ")
    assert "refused" in message.lower()
    assert f"download the files by hand into {tmp_path / 'mnist'}" in message
    assert "train-images-idx3-ubyte.gz" in message and "\n" not in message
    assert list((tmp_path / "mnist").iterdir()) == []


def test_a_silent_mirror_costs_one_timeout_not_one_per_file(tmp_path, mirrors):
    """A mirror that accepts and never answers (as behind a firewall) is given up after its first timeout."""
    silent, held = socket.create_server(("127.0.0.1", 0)), []

    def accept():
        while True:
            try:
                held.append(silent.accept()[0])
            except OSError:  # the listening socket was closed: done
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        url = mirrors.add("a", gz_files(9))
        get(tmp_path / "ok", [f"http://127.0.0.1:{silent.getsockname()[1]}/", url], timeout=0.3)
        assert len(held) == 1  # one file waited for it; the other three went straight to the next mirror
        with pytest.raises(DownloadError, match=r"could not reach any mirror .*: timed out after 0.3 s"):
            get(tmp_path / "other", [f"http://127.0.0.1:{silent.getsockname()[1]}/"], timeout=0.3)
        assert len(held) == 2
    finally:
        silent.close()
        for conn in held:
            conn.close()
    assert_complete(tmp_path / "ok")


@pytest.mark.parametrize("kwargs, name", [
    ({"mirrors": "http://127.0.0.1/"}, "mirrors"),
    ({"mirrors": ["ftp://example.org/mnist/"]}, "mirrors"),
    ({"mirrors": []}, "mirrors"),
    ({"checksums": {"train_images": "0" * 64}}, "checksums"),
    ({"checksums": {**CHECKSUMS, "test_labels": "xyz"}}, "checksums"),
    ({"timeout": 0}, "timeout"),
])
def test_malformed_arguments_are_rejected_by_name(tmp_path, kwargs, name):
    args = {"mirrors": ["http://127.0.0.1:1/"], "checksums": CHECKSUMS} | kwargs
    with pytest.raises(ValueError, match=name):
        download_mnist(tmp_path, progress=False, **args)
    assert list(tmp_path.iterdir()) == []


def test_cli_downloads_and_prints_the_paths(tmp_path, mirrors, monkeypatch, capsys):
    monkeypatch.setattr(download, "MNIST_SHA256", CHECKSUMS)  # the CLI checks the built-in sums: use the fake's
    url = mirrors.add("a", gz_files(9))
    download.main(["mnist", str(tmp_path / "d"), "--mirror", url, "--quiet", "--timeout", "5"])
    out, err = capsys.readouterr()
    assert out.split() == [str(tmp_path / "d" / f"{stem}.gz") for stem in MNIST_FILES.values()]
    assert f"--mnist-dir {tmp_path / 'd'}" in err
    assert_complete(tmp_path / "d")
    # --mirror comes before the default mirrors: the (closed) default was never needed
    assert len(mirrors.requests("a")) == 4


def test_cli_errors_exit_non_zero_with_one_line(tmp_path, mirrors, capsys):
    url = mirrors.add("a", gz_files(9))  # the fake files fail the real MNIST checksums
    with pytest.raises(SystemExit) as exit_:
        download.main(["mnist", str(tmp_path), "--mirror", url, "--no-default-mirrors", "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1
    assert err.count("\n") == 1 and err.startswith("python -m crossbar.training.download: error: could not get 4")
    assert "sha256 mismatch" in err
    for argv, text in ((["mnist", str(tmp_path), "--no-default-mirrors"], "--no-default-mirrors needs"),
                       (["mnist", str(tmp_path), "--timeout", "-1"], "timeout"),
                       (["cifar", str(tmp_path)], "invalid choice")):
        with pytest.raises(SystemExit) as exit_:
            download.main(argv)
        assert exit_.value.code == 2 and text in capsys.readouterr().err


def test_cli_offline_run_ends_with_a_message_not_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MNIST_DIR"} | {"JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "crossbar.training.download", "mnist", str(tmp_path), "--quiet",
                           "--mirror", f"http://127.0.0.1:{closed_port()}/", "--no-default-mirrors"],
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=Path(__file__).parents[1])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "could not reach any mirror" in proc.stderr and "download the files by hand" in proc.stderr
