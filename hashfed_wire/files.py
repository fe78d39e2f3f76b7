"""Files that must survive a crash whole: a replaced file is the old one or the complete
new one, never a part; a new key file appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_wire import ed25519


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a creation in ``directory`` durable; not possible (nor needed) on
    every platform, so failures are ignored."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _write_temporary(directory: Path, name: str, chunks: bytes | Iterable[bytes]) -> str:
    """A flushed, owner-only temporary file in ``directory`` holding ``chunks``; removed
    again if writing fails."""
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            # The umask could have narrowed the mode further, never widened it; set it
            # exactly so the file is what the documentation promises.
            if hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), 0o600)
            for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return temporary


def write_atomically(path: str | os.PathLike[str], chunks: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``chunks``: readers, and a crash at any moment, see either
    the old file or the complete new one, never a part. Writes a temporary file next
    to ``path`` (same file system, so ``os.replace`` is atomic), flushes it to disk,
    then renames it over ``path``. The new file is readable by its owner only, since
    hash lists and their state are not for every local user. If anything fails,
    ``path`` is untouched and the temporary file is removed."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    temporary = _write_temporary(directory, target.name, chunks)
    try:
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)


def create_file_exclusively(path: str | os.PathLike[str], data: bytes) -> None:
    """Create ``path`` holding ``data``, readable by its owner only. Raises
    FileExistsError, leaving the existing file as it was, if ``path`` exists.

    The content is written to a temporary file first and linked into place: the link
    fails if the name is taken (so of two processes creating one key at once, one
    wins), and nobody ever reads a half-written file under ``path``."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    temporary = _write_temporary(directory, target.name, data)
    try:
        os.link(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    fsync_directory(directory)


def write_new_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Generate an Ed25519 key and write it to the new file ``path`` as unencrypted PKCS#8
    PEM, mode 0600. Raises FileExistsError if ``path`` exists (overwriting a registered
    key would lose it for good), OSError if it cannot be created."""
    key = Ed25519PrivateKey.generate()
    create_file_exclusively(path, ed25519.private_key_pem(key))
    return key
