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

import hashlib
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import idna
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal

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

# Longer than any browser keeps in its address bar; longer text is not a URL someone shared.
URL_MAX_LENGTH = 8192


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
    # json.dumps' default separators are the ones threatexchange's vpdq_to_json writes.
    return json.dumps([str(frame) for frame in parse_vpdq(value)])


# URLs

# RFC 3986 appendix B: splits any string into scheme, authority, path, query and fragment.
_URL_PARTS = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+")
_URL_EXPECTED = "url values must be absolute http or https URLs"


def _normalise_percent_encoding(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape what must be."""
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "%":
            pair = text[position + 1 : position + 3]
            if len(pair) == 2 and all(digit in _HEX_DIGITS for digit in pair):
                decoded = chr(int(pair, 16))
                out.append(decoded if decoded in _UNRESERVED else f"%{pair.upper()}")
                position += 3
                continue
            # A "%" that starts no escape stands for itself, which is spelled %25.
            out.append("%25")
        elif char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        position += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for a path starting with "/": "/a/./b/../c" becomes "/a/c"."""
    segments = path.split("/")[1:]
    output: list[str] = []
    for segment in segments:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/" + "/".join(output)
    if segments[-1] in (".", "..") and not result.endswith("/"):
        result += "/"
    return result


def _parse_ipv4_number(part: str) -> int | None:
    # The WHATWG URL standard's "IPv4 number": 0x-prefixed hex, 0-prefixed octal, or decimal.
    if not part:
        return None
    if part.startswith("0x"):
        digits, radix, allowed = part[2:], 16, "0123456789abcdef"
    elif len(part) > 1 and part.startswith("0"):
        digits, radix, allowed = part[1:], 8, "01234567"
    else:
        digits, radix, allowed = part, 10, "0123456789"
    if any(digit not in allowed for digit in digits):
        return None
    return int(digits, radix) if digits else 0


def _parse_ipv4(host: str) -> str | None:
    """Dotted-quad form of a host browsers read as IPv4 ("0x7f.1" is 127.0.0.1), else None.

    Obfuscated addresses are a common way to dodge URL lists, so all of a browser's spellings of
    one address must give one value.
    """
    last = host.rsplit(".", 1)[-1]
    # WHATWG's "ends in a number": all digits (even "09", which then fails), or a valid number.
    if not (last.isascii() and last.isdigit()) and _parse_ipv4_number(last) is None:
        return None
    parts = host.split(".")
    numbers = [_parse_ipv4_number(part) for part in parts]
    if len(parts) > 4 or any(number is None for number in numbers):
        raise _malformed(f"{_URL_EXPECTED}; {host!r} is not a valid IPv4 address")
    *leading, final = [number for number in numbers if number is not None]
    if any(number > 255 for number in leading) or final >= 256 ** (4 - len(leading)):
        raise _malformed(f"{_URL_EXPECTED}; {host!r} is not a valid IPv4 address")
    address = final + sum(number << (8 * (3 - index)) for index, number in enumerate(leading))
    return str(ipaddress.IPv4Address(address))


def _label_to_ascii(label: str) -> str:
    if not label:
        raise _malformed(f"{_URL_EXPECTED}; the host has an empty label")
    try:
        if not label.isascii():
            return idna.alabel(label).decode("ascii")
        if label.startswith("xn--"):
            idna.ulabel(label)  # refuses punycode that does not decode to a valid label
    except idna.IDNAError as error:
        raise _malformed(f"{_URL_EXPECTED}; host label {label!r}: {error}") from error
    if not _ASCII_LABEL.fullmatch(label):
        raise _malformed(f"{_URL_EXPECTED}; host label {label!r} has characters hosts cannot")
    return label


def _normalise_host(host: str) -> str:
    if host.startswith("["):
        try:
            if not host.endswith("]"):
                raise ValueError("no closing bracket")
            if "%" in host:  # zone ids name an interface on one machine, not a shared resource
                raise ValueError("zone ids are not accepted")
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError as error:
            raise _malformed(f"{_URL_EXPECTED}; bad IPv6 address: {error}") from error
    if "%" in host:
        raise _malformed(f"{_URL_EXPECTED}; percent-encoded host names are not accepted")
    try:
        # UTS #46 non-transitional mapping, as browsers do (WHATWG URL): lower case, full-width
        # dots and digits to ASCII, and so on.
        mapped = (
            host.lower()
            if host.isascii()
            else idna.uts46_remap(host, std3_rules=False, transitional=False)
        )
    except idna.IDNAError as error:
        raise _malformed(f"{_URL_EXPECTED}; bad host name: {error}") from error
    # "example.com." reaches the same server as "example.com"; keeping the dot would let one extra
    # character dodge the list.
    mapped = mapped.removesuffix(".")
    if not mapped:
        raise _malformed(f"{_URL_EXPECTED}; it has no host")
    ipv4 = _parse_ipv4(mapped)
    if ipv4 is not None:
        return ipv4
    return ".".join(_label_to_ascii(label) for label in mapped.split("."))


def _normalise_port(port_text: str, scheme: str) -> str:
    if not port_text:
        return ""
    significant = port_text.lstrip("0") or "0"
    if not re.fullmatch(r"[0-9]+", port_text) or len(significant) > 5 or int(significant) > 65535:
        raise _malformed(f"{_URL_EXPECTED}; the port must be a number from 0 to 65535")
    port = int(significant)
    return "" if port == _DEFAULT_PORTS[scheme] else f":{port}"


def normalise_url(url: str) -> str:
    """Return the normalised text of an http(s) URL; raise SignalValueError (malformed_value).

    In order: surrounding whitespace is stripped; the scheme is lower-cased and must be http or
    https; userinfo ("user:password@") is dropped, because a shared list must not carry someone's
    credentials and the host after the "@" is what the URL leads to; the host is lower-cased,
    converted to punycode (UTS #46, as browsers do), stripped of one trailing dot, and IPv4 and
    IPv6 addresses are written in their standard form; a default port (80, 443) is dropped;
    in path and query, escapes of unreserved characters are decoded, other escapes upper-cased,
    characters that must be escaped are escaped as UTF-8, and a stray "%" becomes "%25"; dot
    segments are removed and an empty path becomes "/"; the query keeps its order, an empty one
    is dropped; the fragment is dropped (it never leaves the browser).

    Refused: other schemes, no host, control characters, backslashes (browsers read them as "/"
    in some places and not others) and text longer than URL_MAX_LENGTH.
    """
    if not isinstance(url, str):
        raise _malformed(_URL_EXPECTED)
    text = url.strip()
    if not text:
        raise _malformed(f"{_URL_EXPECTED}; got empty text")
    if len(text) > URL_MAX_LENGTH:
        raise _malformed(f"{_URL_EXPECTED} of at most {URL_MAX_LENGTH} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise _malformed(f"{_URL_EXPECTED}; it contains control characters")
    if "\\" in text:
        raise _malformed(f"{_URL_EXPECTED}; write a backslash as %5C")
    match = _URL_PARTS.fullmatch(text)
    assert match is not None  # the pattern matches every string
    scheme, authority, path, query, _fragment = match.groups()
    scheme = (scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise _malformed(f'{_URL_EXPECTED}, starting "http://" or "https://"')
    if authority is None:
        raise _malformed(f'{_URL_EXPECTED}; "{scheme}:" must be followed by "//" and a host')
    host_and_port = authority.rpartition("@")[2]
    if host_and_port.startswith("["):
        host, bracket, port_part = host_and_port.partition("]")
        host += bracket
        if port_part and not port_part.startswith(":"):
            raise _malformed(f"{_URL_EXPECTED}; unexpected text after the IPv6 address")
        port_text = port_part[1:]
    else:
        host, _colon, port_text = host_and_port.partition(":")
    if not host:
        raise _malformed(f"{_URL_EXPECTED}; it has no host")
    try:
        path = _normalise_percent_encoding(path, _PATH_SAFE)
        query = _normalise_percent_encoding(query or "", _QUERY_SAFE)
    except UnicodeEncodeError as error:
        raise _malformed(f"{_URL_EXPECTED}; it contains unpaired surrogates") from error
    normalised = f"{scheme}://{_normalise_host(host)}{_normalise_port(port_text, scheme)}"
    normalised += _remove_dot_segments(path) if path else "/"
    return f"{normalised}?{query}" if query else normalised


def _url_digest(url: str) -> str:
    # The list carries a digest, not the URL: URLs can hold personal data (names, tokens, ids)
    # that members should not receive by syncing the list. Normalised text is pure ASCII.
    return hashlib.sha256(normalise_url(url).encode("ascii")).hexdigest()


def _is_url_digest(value: str) -> bool:
    return _LOWERCASE_HEX_64.fullmatch(value) is not None


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
