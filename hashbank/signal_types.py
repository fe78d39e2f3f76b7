"""The hub's signal types: the one place where they are defined, validated and normalised.

Every value that enters the hub (a submission, a lookup, a peer hub's bank) goes through
`normalise_value`, so two members who hold the same hash in different spellings (upper case,
surrounding whitespace, an equivalent URL) store and match one value.

Names are python-threatexchange's (`PdqSignal.get_name() == "pdq"` and so on) so that values can
be exchanged with the field's own tooling. Where the installed threatexchange package validates
exactly the format we accept, its `validate_signal_str` has the last word; our own checks run first
only to give an error message that says what was expected.

This module imports no Django: the matcher process and command-line tools use it too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal

from hashfed_wire import urls as wire_urls

__all__ = [
    "PDQ_BITS",
    "PDQ_DISTANCE_THRESHOLD",
    "PDQ_HEX_LENGTH",
    "PDQ_MAX_DISTANCE_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "SIGNAL_TYPES",
    "URL_MAX_LENGTH",
    "VPDQ_MAX_FRAMES",
    "SignalType",
    "SignalValueError",
    "VpdqFrame",
    "get_signal_type",
    "hamming_distance_hex",
    "normalise_pdq_quality",
    "normalise_url",
    "normalise_value",
    "parse_vpdq",
    "pdq_hex_to_bytes",
    "require_pdq_quality",
]

SignalErrorCode = Literal["unknown_signal_type", "malformed_value", "low_quality"]

PDQ_BITS = 256
PDQ_HEX_LENGTH = PDQ_BITS // 4
# The distance at which PDQ's authors (and python-threatexchange's PDQ_CONFIDENT_MATCH_THRESHOLD)
# call two hashes the same picture; a lookup that names no threshold gets this one.
PDQ_DISTANCE_THRESHOLD = 31
# The widest a lookup may ask for. Unrelated hashes sit around 128 bits apart, so 63 still leaves
# chance collisions negligible; any wider mostly returns unrelated images, costs the index more and
# turns lookup into a way to sweep the list.
PDQ_MAX_DISTANCE_THRESHOLD = 63
# Below this the picture is nearly uniform and its hash matches unrelated pictures
# (python-threatexchange's PdqSignal.QUALITY_THRESHOLD and VPDQ_QUALITY_THRESHOLD agree).
PDQ_MIN_QUALITY = 50

# A day of video hashed at one frame per second is 86,400 frames; this leaves room for finer
# sampling while keeping one value's parsing and storage bounded.
VPDQ_MAX_FRAMES = 100_000
# One frame serialises to about 75 characters; refuse obviously oversized text before parsing it.
VPDQ_MAX_LENGTH = VPDQ_MAX_FRAMES * 100
VPDQ_MAX_TIMESTAMP_SECONDS = 10_000_000  # about 115 days
# python-threatexchange rounds vPDQ timestamps to milliseconds (VPDQ_TIMESTAMP_PRECISION).
VPDQ_TIMESTAMP_DECIMALS = 3

URL_MAX_LENGTH = wire_urls.URL_MAX_LENGTH


class SignalValueError(ValueError):
    """A signal type or value the hub cannot accept.

    `code` is stable (API clients branch on it): "unknown_signal_type", "malformed_value" or
    "low_quality". `message` is for people and says what was expected.
    """

    def __init__(self, code: SignalErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: SignalErrorCode = code
        self.message = message


def _malformed(message: str) -> SignalValueError:
    return SignalValueError("malformed_value", message)


@dataclass(frozen=True)
class SignalType:
    """One kind of signal the hub accepts.

    `max_distance` is the widest Hamming distance a lookup may ask for and `default_distance` the
    one it gets when it names none; both are None for types matched exactly. For vpdq they apply
    to each frame's PDQ hash.
    """

    name: str
    description: str
    accepted_form: str
    is_perceptual: bool
    max_distance: int | None
    default_distance: int | None
    normaliser: Callable[[str], str] = field(repr=False, compare=False)
    # Recognises the stored form where it is not something normalise() accepts (url stores a
    # digest of the URL, not the URL); None means "the stored form is normalise()'s fixed point".
    stored_form: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)

    def normalise(self, value: str) -> str:
        """Return the form the hub stores and matches; raise SignalValueError (malformed_value)."""
        if not isinstance(value, str):
            raise _malformed(f"{self.name} values must be text: {self.accepted_form}")
        return self.normaliser(value)

    def is_normalised(self, value: str) -> bool:
        """True when `value` is already in stored form (as in the change log and peer banks)."""
        if not isinstance(value, str):
            return False
        if self.stored_form is not None:
            return self.stored_form(value)
        try:
            return self.normaliser(value) == value
        except SignalValueError:
            return False


def get_signal_type(name: str) -> SignalType:
    """Return the registered signal type; raise SignalValueError (unknown_signal_type)."""
    signal_type = SIGNAL_TYPES.get(name) if isinstance(name, str) else None
    if signal_type is None:
        shown = repr(name)[:40]
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise SignalValueError(
            "unknown_signal_type", f"unknown signal type {shown}; known types: {known}"
        )
    return signal_type


def normalise_value(signal_type: str, value: str) -> str:
    """Return `value` in the stored form of `signal_type`; raise SignalValueError."""
    return get_signal_type(signal_type).normalise(value)


# Hexadecimal digests and PDQ

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_LOWERCASE_HEX_64 = re.compile(r"[0-9a-f]{64}")


def _hex_normaliser(
    type_name: str, bits: int, threatexchange_validator: Callable[[str], str]
) -> Callable[[str], str]:
    length = bits // 4
    expected = f"{type_name} values must be exactly {length} hexadecimal characters ({bits} bits)"

    def normalise(value: str) -> str:
        if not isinstance(value, str):
            raise _malformed(expected)
        text = value.strip()
        if len(text) != length:
            raise _malformed(f"{expected}; got {len(text)} characters")
        for position, char in enumerate(text, start=1):
            if char not in _HEX_DIGITS:
                raise _malformed(f"{expected}; found {char!r} at position {position}")
        try:
            return threatexchange_validator(text.lower())
        except ValueError as error:
            raise _malformed(f"{expected}; threatexchange refused it: {error}") from error

    return normalise


def _digest_type(
    name: str, description: str, bits: int, threatexchange_validator: Callable[[str], str]
) -> SignalType:
    return SignalType(
        name=name,
        description=description,
        accepted_form=f"{bits // 4} hexadecimal characters ({bits} bits)",
        is_perceptual=False,
        max_distance=None,
        default_distance=None,
        normaliser=_hex_normaliser(name, bits, threatexchange_validator),
    )


_normalise_pdq = _hex_normaliser("pdq", PDQ_BITS, PdqSignal.validate_signal_str)


def pdq_hex_to_bytes(pdq_hex: str) -> bytes:
    """Return the 32 bytes of a PDQ hash given as hexadecimal; raise SignalValueError."""
    return bytes.fromhex(_normalise_pdq(pdq_hex))


def hamming_distance_hex(a: str, b: str) -> int:
    """Return the number of bits in which two PDQ hashes differ (0..256); raise SignalValueError."""
    return (int(_normalise_pdq(a), 16) ^ int(_normalise_pdq(b), 16)).bit_count()


def normalise_pdq_quality(quality: int | str) -> int:
    """Return a PDQ quality as an int from 0 to 100; raise SignalValueError (malformed_value)."""
    expected = "PDQ quality must be a whole number from 0 to 100"
    # bool is an int subclass; True is not a quality of 1.
    if isinstance(quality, bool):
        raise _malformed(expected)
    if isinstance(quality, str):
        text = quality.strip()
        if not re.fullmatch(r"[0-9]{1,3}", text):
            raise _malformed(f"{expected}; got {quality[:20]!r}")
        quality = int(text)
    if not isinstance(quality, int) or not 0 <= quality <= 100:
        raise _malformed(f"{expected}; got {quality!r}"[:120])
    return quality


def require_pdq_quality(quality: int | str, *, minimum: int = PDQ_MIN_QUALITY) -> int:
    """Return the normalised quality; raise SignalValueError (low_quality) below `minimum`."""
    value = normalise_pdq_quality(quality)
    if value < minimum:
        raise SignalValueError(
            "low_quality",
            f"PDQ quality {value} is below the minimum of {minimum}: hashes of such pictures "
            "match unrelated pictures",
        )
    return value


# vPDQ
#
# python-threatexchange's vpdq extension (VPDQSignal) is present in the installed package but cannot
# be imported without the native `vpdq` library, which the hub does not need: it never hashes video.
# So its serialisation is followed here rather than imported: a JSON array with one string per
# frame, "pdq_hex,quality,timestamp_seconds" (VpdqCompactFeature.__str__ / vpdq_to_json). Values
# written by threatexchange are accepted as they are and peers reading ours parse them unchanged.

_VPDQ_TIMESTAMP = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class VpdqFrame:
    """One frame of a vPDQ value: its PDQ hash, the hash's quality, its time in the video."""

    pdq_hex: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        # repr() of a float is its shortest round-tripping form: "0.0", "12.5", "600.0". That is
        # threatexchange's output for short videos, and unlike its 3-significant-digit form
        # ("1e+02") it does not lose time after the first 100 seconds.
        return f"{self.pdq_hex},{self.quality},{self.timestamp!r}"


def _parse_vpdq_frame(frame: object, number: int) -> VpdqFrame:
    expected = f'vpdq frame {number} must be "pdq_hex,quality,timestamp_seconds"'
    if not isinstance(frame, str):
        raise _malformed(f"{expected}; got {type(frame).__name__}")
    parts = [part.strip() for part in frame.split(",")]
    if len(parts) != 3:
        raise _malformed(f"{expected}; got {len(parts)} comma-separated fields")
    pdq_text, quality_text, timestamp_text = parts
    try:
        pdq_hex = _normalise_pdq(pdq_text)
        quality = normalise_pdq_quality(quality_text)
    except SignalValueError as error:
        raise _malformed(f"vpdq frame {number}: {error.message}") from error
    if not _VPDQ_TIMESTAMP.fullmatch(timestamp_text):
        raise _malformed(
            f"vpdq frame {number}: the timestamp must be a non-negative number of seconds"
        )
    timestamp = round(float(timestamp_text), VPDQ_TIMESTAMP_DECIMALS)
    if not math.isfinite(timestamp) or timestamp > VPDQ_MAX_TIMESTAMP_SECONDS:
        raise _malformed(
            f"vpdq frame {number}: the timestamp must be at most {VPDQ_MAX_TIMESTAMP_SECONDS} s"
        )
    return VpdqFrame(pdq_hex, quality, timestamp)


def parse_vpdq(value: str) -> list[VpdqFrame]:
    """Return the frames of a vPDQ value, in the order given; raise SignalValueError."""
    expected = 'vpdq values must be JSON arrays of "pdq_hex,quality,timestamp_seconds" strings'
    if not isinstance(value, str):
        raise _malformed(expected)
    if len(value) > VPDQ_MAX_LENGTH:
        raise _malformed(f"{expected}, at most {VPDQ_MAX_FRAMES} frames")
    try:
        frames = json.loads(value)
    except (ValueError, RecursionError) as error:
        raise _malformed(f"{expected}; the text is not JSON") from error
    if not isinstance(frames, list) or not frames:
        raise _malformed(f"{expected}, with at least one frame")
    if len(frames) > VPDQ_MAX_FRAMES:
        raise _malformed(f"{expected}, at most {VPDQ_MAX_FRAMES} frames")
    return [_parse_vpdq_frame(frame, number) for number, frame in enumerate(frames, start=1)]


def _normalise_vpdq(value: str) -> str:
    frames = parse_vpdq(value)
    # A comparison drops the frames below the minimum quality (as the reference does): a
    # value with no other frame would match nothing, and is refused rather than listed.
    if all(frame.quality < PDQ_MIN_QUALITY for frame in frames):
        raise SignalValueError(
            "low_quality",
            f"every frame of this vpdq value has a PDQ quality below {PDQ_MIN_QUALITY}: "
            "comparisons leave such frames out, so it would match no video",
        )
    # json.dumps' default separators are the ones threatexchange's vpdq_to_json writes.
    return json.dumps([str(frame) for frame in frames])


# URLs: the normalisation lives in hashfed_wire.urls, where members' tools compute the same
# digest; here its refusals become the hub's SignalValueError.


def normalise_url(url: str) -> str:
    """Return the normalised text of an http(s) URL (`hashfed_wire.urls.normalise_url`); raise
    SignalValueError (malformed_value)."""
    try:
        return wire_urls.normalise_url(url)
    except wire_urls.URLValueError as error:
        raise _malformed(str(error)) from error


def _url_digest(url: str) -> str:
    try:
        return wire_urls.url_digest(url)
    except wire_urls.URLValueError as error:
        raise _malformed(str(error)) from error


_is_url_digest = wire_urls.is_url_digest


# The registry. Adding a type is one entry here (and a row in docs/signal-types.md).
# md5 and sha256 use the validators of threatexchange's video_md5 and video_sha256: those check
# only the digest's shape, which is the same whatever kind of file was hashed.
SIGNAL_TYPES: dict[str, SignalType] = {
    signal_type.name: signal_type
    for signal_type in (
        SignalType(
            name="pdq",
            description="PDQ perceptual hash of a picture",
            accepted_form=f"{PDQ_HEX_LENGTH} hexadecimal characters ({PDQ_BITS} bits)",
            is_perceptual=True,
            max_distance=PDQ_MAX_DISTANCE_THRESHOLD,
            default_distance=PDQ_DISTANCE_THRESHOLD,
            normaliser=_normalise_pdq,
        ),
        _digest_type("md5", "MD5 of a file's bytes", 128, VideoMD5Signal.validate_signal_str),
        _digest_type(
            "sha256", "SHA-256 of a file's bytes", 256, VideoSHA256Signal.validate_signal_str
        ),
        _digest_type(
            "video_md5", "MD5 of a video file's bytes", 128, VideoMD5Signal.validate_signal_str
        ),
        SignalType(
            name="vpdq",
            description="vPDQ: PDQ hashes of a video's frames",
            accepted_form='JSON array of "pdq_hex,quality,timestamp_seconds" strings',
            is_perceptual=True,
            max_distance=PDQ_MAX_DISTANCE_THRESHOLD,
            default_distance=PDQ_DISTANCE_THRESHOLD,
            normaliser=_normalise_vpdq,
        ),
        SignalType(
            name="url",
            description="SHA-256 of a normalised http(s) URL",
            accepted_form="an absolute http or https URL",
            is_perceptual=False,
            max_distance=None,
            default_distance=None,
            normaliser=_url_digest,
            stored_form=_is_url_digest,
        ),
    )
}
