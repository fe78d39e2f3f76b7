"""URL normalisation and the digest the hub lists a URL by (docs/signal-types.md, `url`).

Shared by the hub, which stores the digest, and members' tools, which must compute the very
same digest to match against the list. Pure Python (idna for host names), no Django.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

import idna

# Longer than any browser keeps in its address bar; longer text is not a URL someone shared.
URL_MAX_LENGTH = 8192

_LOWERCASE_HEX_64 = re.compile(r"[0-9a-f]{64}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class URLValueError(ValueError):
    """Text that is not an http(s) URL the hub accepts; the message says why."""


def _malformed(message: str) -> URLValueError:
    return URLValueError(message)


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
    """Return the normalised text of an http(s) URL; raise URLValueError.

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


def url_digest(url: str) -> str:
    """The lowercase hex SHA-256 of the normalised URL: the value the hub lists a URL by."""
    # The list carries a digest, not the URL: URLs can hold personal data (names, tokens, ids)
    # that members should not receive by syncing the list. Normalised text is pure ASCII.
    return hashlib.sha256(normalise_url(url).encode("ascii")).hexdigest()


def is_url_digest(value: str) -> bool:
    return _LOWERCASE_HEX_64.fullmatch(value) is not None
