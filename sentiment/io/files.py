"""Files written so that a crash never leaves half of one: atomic writes, JSON, checksums.

Reading is bounded too: a file is opened only when it is a regular file
(never a folder, a device such as /dev/zero or a FIFO, which would block or
never end), and never read past a size limit. Paths a command will write are
checked before the command does its work (`check_output_file`,
`check_output_folder`), so a bad `--output` costs a line, not a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sentiment.errors import SentimentError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    The temporary name keeps the suffixes (Keras insists on `.keras` and
    `.weights.h5`). On any
    error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, _, suffixes = path.name.partition(".")  # keep "weights.h5": Keras checks it
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=f".tmp.{suffixes}")
    os.close(handle)
    temporary = Path(temporary)
    os.chmod(temporary, 0o644)  # mkstemp makes 0600; artifacts are meant to be shared
    try:
        yield temporary
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: str | Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


# A JSON file this project reads (configs, metrics, results) is kilobytes to a
# few megabytes; anything far larger is not one of ours.
JSON_MAX_BYTES = 256 * 1024 * 1024


def open_regular(path: str | Path) -> int:
    """Opens a regular file for reading; returns its descriptor (close it with `os.close`).

    Opened non-blocking, so a FIFO cannot hang the call; then refused unless
    it is a regular file (a folder, /dev/zero, a socket are all refused).

    Raises:
        SentimentError: missing, not a regular file, or unreadable.
    """
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SentimentError(f"{path} is missing") from None
    except IsADirectoryError:
        raise SentimentError(f"{path} is a folder, not a file") from None
    except OSError as error:
        raise SentimentError(f"{path} cannot be read ({error.strerror})") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise SentimentError(f"{path} is a folder, not a file")
        raise SentimentError(f"{path} is not a regular file (a device, a pipe or a socket)")
    return descriptor


def read_bytes(path: str | Path, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` bytes.

    Raises:
        SentimentError: not a regular file (`open_regular`), or larger than `max_bytes`.
    """
    with os.fdopen(open_regular(path), "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SentimentError(f"{path} is larger than {max_bytes:,} bytes; it is not the file this code expects")
    return data


def read_json(path: str | Path, max_bytes: int = JSON_MAX_BYTES) -> Any:
    path = Path(path)
    try:
        return json.loads(read_bytes(path, max_bytes).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SentimentError(f"{path} is not valid JSON ({error}); delete the folder and retrain") from None


def sha256_of(path: str | Path, max_bytes: int | None = None) -> str:
    """The SHA-256 of a regular file, read in 1 MB blocks.

    Args:
        path: the file; a folder, a device or a pipe is refused (`open_regular`).
        max_bytes: refuse a file longer than this (None: no limit).
    """
    digest, total = hashlib.sha256(), 0
    with os.fdopen(open_regular(path), "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            total += len(block)
            if max_bytes is not None and total > max_bytes:
                raise SentimentError(f"{path} is longer than the {max_bytes:,} bytes expected")
            digest.update(block)
    return digest.hexdigest()


def _probe_folder(folder: Path, flag: str) -> None:
    """Creates and removes a file in `folder`: the one test of writability that also holds for root."""
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
    except OSError as error:
        raise SentimentError(f"cannot write in {folder} ({error.strerror}); choose another {flag}") from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: str | Path, flag: str = "--output") -> Path:
    """Refuses a file path that could not be written, before any work is done.

    The file is written later beside itself and renamed into place
    (`atomic_path`), so what must hold is: its folder exists and takes new
    files, and the path is not a folder, a device or another non-file.

    Returns:
        `path` as a Path.

    Raises:
        SentimentError: one line naming the path and the problem.
    """
    path = Path(path)
    if path.is_dir():
        raise SentimentError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise SentimentError(f"{flag} {path} is not a regular file (a device or a pipe); give a file name")
    folder = path.parent
    if not folder.exists():
        raise SentimentError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise SentimentError(f"{flag} {path}: {folder} is a file, not a folder")
    _probe_folder(folder, flag)
    return path


def check_output_folder(path: str | Path, names: tuple[str, ...] = (), flag: str = "--output") -> Path:
    """Refuses a folder that could not be created or written, before any work is done.

    Args:
        path: the folder; created later (with its parents) if missing.
        names: files that will be written in it; none may be a folder.
        flag: the option the path came from, for the message.

    Raises:
        SentimentError: one line naming the path and the problem.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SentimentError(f"{flag} {path} is a file; give a folder")
    existing = path
    while not existing.exists():  # the nearest folder that exists: the missing ones are made in it
        existing = existing.parent
    if not existing.is_dir():
        raise SentimentError(f"{flag} {path}: {existing} is a file, not a folder")
    _probe_folder(existing, flag)
    for name in names:
        if (path / name).is_dir():
            raise SentimentError(f"{flag} {path}: {path / name} is a folder, so it cannot be written")
    return path
