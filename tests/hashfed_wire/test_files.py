"""Key files and atomic writes: complete or absent, never half-written, owner-only."""

import os
import stat

import pytest

from hashfed_wire import ed25519
from hashfed_wire.files import create_file_exclusively, write_new_private_key


def test_a_new_file_is_created_whole_and_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "hub-ed25519.pem"
    create_file_exclusively(path, b"secret\n")
    assert path.read_bytes() == b"secret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["hub-ed25519.pem"]


def test_an_existing_file_is_never_replaced_and_nothing_is_left_behind(tmp_path):
    path = tmp_path / "hub-ed25519.pem"
    path.write_bytes(b"the registered key")
    with pytest.raises(FileExistsError):
        create_file_exclusively(path, b"another key")
    assert path.read_bytes() == b"the registered key"
    assert os.listdir(tmp_path) == ["hub-ed25519.pem"]


def test_a_new_private_key_file_holds_the_key_it_returns(tmp_path):
    path = tmp_path / "signing.pem"
    key = write_new_private_key(path)
    loaded = ed25519.load_private_key_pem(path.read_bytes())
    assert ed25519.public_key_raw(loaded) == ed25519.public_key_raw(key)
    with pytest.raises(FileExistsError):
        write_new_private_key(path)


def test_a_file_that_is_not_an_ed25519_key_is_refused():
    with pytest.raises(ed25519.PrivateKeyError):
        ed25519.load_private_key_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n")
