"""The hub's signal types as python-threatexchange sees them.

Where python-threatexchange has a type of the same meaning the hub's values are given to it
unchanged (``pdq``, ``video_md5``, ``vpdq``, the last one only where threatexchange's vpdq
extension is loaded). The hub's ``md5`` and ``sha256`` are digests of any file and its
``url`` is the SHA-256 of a URL normalised as the hub does (``docs/signal-types.md``); no
threatexchange type means that (``video_md5``/``video_sha256`` are for videos, ``url`` and
``url_md5`` match the raw text), so this extension ships its own: ``hashfed_md5``,
``hashfed_sha256`` and ``hashfed_url``, which hash files, and URLs, as the hub does, so that
``threatexchange match`` finds what the hub's lookup would.
"""

import hashlib
import pathlib
import re
import typing as t

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.photo import PhotoContent
from threatexchange.content_type.url import URLContent
from threatexchange.content_type.video import VideoContent
from threatexchange.signal_type import signal_base
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from hashfed_wire import urls

_HEX = re.compile(r"[0-9a-f]+")


def _hex_digest(value: str, length: int, what: str) -> str:
    normalised = value.strip().lower()
    if len(normalised) != length or not _HEX.fullmatch(normalised):
        raise ValueError(f"{value!r} is not a valid {what} ({length} hexadecimal characters)")
    return normalised


def _file_digest(path: pathlib.Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _FileDigestSignal(
    signal_base.SimpleSignalType,
    signal_base.BytesHasher,
):
    """A digest of a file's bytes, whatever the file holds: the hub's ``md5`` and
    ``sha256``. Subclasses name the type, the hashlib algorithm and the digest's length."""

    NAME: t.ClassVar[str]
    ALGORITHM: t.ClassVar[str]
    HEX_LENGTH: t.ClassVar[int]
    TITLE: t.ClassVar[str]

    @classmethod
    def get_name(cls) -> str:
        return cls.NAME

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [PhotoContent, VideoContent]

    @classmethod
    def get_index_cls(cls) -> type[signal_base.TrivialSignalTypeIndex[t.Any]]:
        return signal_base.TrivialSignalTypeIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        return _hex_digest(signal_str, cls.HEX_LENGTH, cls.TITLE)

    @classmethod
    def hash_from_file(cls, file: pathlib.Path) -> str:
        return _file_digest(file, cls.ALGORITHM)

    @classmethod
    def hash_from_bytes(cls, bytes_: bytes) -> str:
        # MD5 is the list's format here, not a security use.
        return hashlib.new(cls.ALGORITHM, bytes_).hexdigest()

    @classmethod
    def get_examples(cls) -> list[str]:
        return [cls.hash_from_bytes(b"")]


class HashfedFileMD5Signal(_FileDigestSignal):
    """The hub's ``md5``: the MD5 of a file's bytes, whatever the file holds."""

    NAME, ALGORITHM, HEX_LENGTH, TITLE = "hashfed_md5", "md5", 32, "MD5"


class HashfedFileSHA256Signal(_FileDigestSignal):
    """The hub's ``sha256``: the SHA-256 of a file's bytes, whatever the file holds."""

    NAME, ALGORITHM, HEX_LENGTH, TITLE = "hashfed_sha256", "sha256", 64, "SHA-256"


class HashfedURLSignal(
    signal_base.SimpleSignalType,
    signal_base.TextHasher,
):
    """The hub's ``url``: the SHA-256 of the URL normalised as the hub normalises it
    (``hashfed_wire.urls``). Matching a URL digests it the same way, so two spellings of one
    address (case, default port, escapes, a fragment) find the same listed value."""

    @classmethod
    def get_name(cls) -> str:
        return "hashfed_url"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [URLContent]

    @classmethod
    def get_index_cls(cls) -> type[signal_base.TrivialSignalTypeIndex[t.Any]]:
        return signal_base.TrivialSignalTypeIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        return _hex_digest(signal_str, 64, "URL digest")

    @classmethod
    def hash_from_str(cls, text: str) -> str:
        """The digest of a URL; empty text (threatexchange's "no hash") if it is not an
        http(s) URL the hub would accept."""
        try:
            return urls.url_digest(text)
        except urls.URLValueError:
            return ""

    @staticmethod
    def get_examples() -> list[str]:
        return [urls.url_digest("https://example.com/")]


# The vpdq type lives in threatexchange's vpdq extension, which needs the native vPDQ
# library; its name is enough to route the hub's values to it where it is loaded.
VPDQ_SIGNAL_NAME = "vpdq"

# The hub's signal type name -> the python-threatexchange signal type name it is fetched as.
HUB_TO_TX: dict[str, str] = {
    "pdq": PdqSignal.get_name(),
    "video_md5": VideoMD5Signal.get_name(),
    "vpdq": VPDQ_SIGNAL_NAME,
    "md5": HashfedFileMD5Signal.get_name(),
    "sha256": HashfedFileSHA256Signal.get_name(),
    "url": HashfedURLSignal.get_name(),
}
TX_TO_HUB: dict[str, str] = {tx: hub for hub, tx in HUB_TO_TX.items()}

SIGNAL_TYPES: tuple[type[signal_base.SignalType], ...] = (
    HashfedFileMD5Signal,
    HashfedFileSHA256Signal,
    HashfedURLSignal,
)
