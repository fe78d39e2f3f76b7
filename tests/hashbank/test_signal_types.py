import hashlib
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.pdq_utils import (
    BITS_IN_PDQ,
    PDQ_CONFIDENT_MATCH_THRESHOLD,
    simple_distance,
)
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal
from threatexchange.signal_type.url import URLSignal

from hashbank import signal_types
from hashbank.signal_types import (
    PDQ_BITS,
    PDQ_DISTANCE_THRESHOLD,
    PDQ_MAX_DISTANCE_THRESHOLD,
    PDQ_MIN_QUALITY,
    SIGNAL_TYPES,
    SignalValueError,
    get_signal_type,
    hamming_distance_hex,
    normalise_pdq_quality,
    normalise_url,
    normalise_value,
    parse_vpdq,
    pdq_hex_to_bytes,
    require_pdq_quality,
)

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_ONE_BIT_OFF = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
VPDQ = json.dumps([f"{PDQ},100,0.0", f"{PDQ_ONE_BIT_OFF},87,1.0"])

GOOD_VALUES = {
    "pdq": PDQ,
    "md5": MD5,
    "sha256": SHA256,
    "video_md5": MD5,
    "vpdq": VPDQ,
    "url": "https://example.com/",
}
HEX_LENGTHS = {"pdq": 64, "md5": 32, "sha256": 64, "video_md5": 32}
THREATEXCHANGE_VALIDATORS = {
    "pdq": PdqSignal.validate_signal_str,
    "md5": VideoMD5Signal.validate_signal_str,
    "sha256": VideoSHA256Signal.validate_signal_str,
    "video_md5": VideoMD5Signal.validate_signal_str,
}


def assert_refused(code: str, signal_type: str, value: object, *, mentioning: str = "") -> None:
    with pytest.raises(SignalValueError) as caught:
        normalise_value(signal_type, value)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert mentioning in caught.value.message


@pytest.fixture
def threatexchange_vpdq_util(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """threatexchange's vpdq serialisation. Its module imports the native vpdq hashing library,
    which the hub does not install; only the text format is exercised, so a stand-in will do."""
    name = "threatexchange.extensions.vpdq.vpdq_util"
    try:
        importlib.import_module("vpdq")
    except ImportError:
        stand_in = ModuleType("vpdq")
        setattr(stand_in, "VpdqFeature", object)  # noqa: B010 (only referenced in annotations)
        monkeypatch.setitem(sys.modules, "vpdq", stand_in)
        sys.modules.pop(name, None)
        try:
            yield importlib.import_module(name)
        finally:
            # Forget the module built on the stand-in so nothing else picks it up.
            sys.modules.pop(name, None)
        return
    yield importlib.import_module(name)


def test_it_registers_the_threatexchange_signal_type_names() -> None:
    assert set(SIGNAL_TYPES) == {"pdq", "md5", "sha256", "video_md5", "vpdq", "url"}
    assert all(name == signal_type.name for name, signal_type in SIGNAL_TYPES.items())


def test_its_names_are_the_ones_threatexchange_gives_its_classes() -> None:
    assert PdqSignal.get_name() == "pdq"
    assert VideoMD5Signal.get_name() == "video_md5"
    assert URLSignal.get_name() == "url"


def test_it_rejects_an_unknown_signal_type() -> None:
    with pytest.raises(SignalValueError) as caught:
        get_signal_type("tmk")
    assert caught.value.code == "unknown_signal_type"
    assert "'tmk'" in caught.value.message
    assert "pdq" in caught.value.message


@pytest.mark.parametrize("name", ["PDQ", " pdq", "", None])
def test_it_rejects_a_signal_type_name_spelled_differently(name: object) -> None:
    assert_refused("unknown_signal_type", name, PDQ)  # type: ignore[arg-type]


def test_signal_value_error_is_a_value_error_with_its_message() -> None:
    error = SignalValueError("malformed_value", "expected 64 hexadecimal characters")
    assert isinstance(error, ValueError)
    assert str(error) == error.message == "expected 64 hexadecimal characters"


def test_only_perceptual_types_have_distance_limits() -> None:
    perceptual = {name for name, signal_type in SIGNAL_TYPES.items() if signal_type.is_perceptual}
    assert perceptual == {"pdq", "vpdq"}
    for name in perceptual:
        assert get_signal_type(name).default_distance == PDQ_DISTANCE_THRESHOLD == 31
        assert get_signal_type(name).max_distance == PDQ_MAX_DISTANCE_THRESHOLD == 63
    for name in set(SIGNAL_TYPES) - perceptual:
        assert get_signal_type(name).max_distance is None
        assert get_signal_type(name).default_distance is None


def test_the_pdq_constants_agree_with_threatexchange() -> None:
    assert PDQ_BITS == BITS_IN_PDQ
    assert PDQ_DISTANCE_THRESHOLD == PDQ_CONFIDENT_MATCH_THRESHOLD
    assert PDQ_MIN_QUALITY == PdqSignal.QUALITY_THRESHOLD


@pytest.mark.parametrize("signal_type", sorted(GOOD_VALUES))
def test_it_accepts_a_well_formed_value_of_every_type(signal_type: str) -> None:
    stored = normalise_value(signal_type, GOOD_VALUES[signal_type])
    assert get_signal_type(signal_type).is_normalised(stored)


@pytest.mark.parametrize("signal_type", sorted(GOOD_VALUES))
def test_it_rejects_an_empty_value_of_every_type(signal_type: str) -> None:
    assert_refused("malformed_value", signal_type, "")
    assert_refused("malformed_value", signal_type, "   ")


@pytest.mark.parametrize("signal_type", sorted(GOOD_VALUES))
@pytest.mark.parametrize("value", [None, 42, b"d41d8cd98f00b204e9800998ecf8427e"])
def test_it_rejects_a_value_that_is_not_text(signal_type: str, value: object) -> None:
    assert_refused("malformed_value", signal_type, value)


@pytest.mark.parametrize("signal_type", sorted(HEX_LENGTHS))
def test_it_lowers_uppercase_hex(signal_type: str) -> None:
    value = GOOD_VALUES[signal_type]
    assert normalise_value(signal_type, value.upper()) == value


@pytest.mark.parametrize("signal_type", sorted(HEX_LENGTHS))
@pytest.mark.parametrize("padding", [" ", "\n", "\t \r\n", "\u00a0"])
def test_it_strips_surrounding_whitespace(signal_type: str, padding: str) -> None:
    value = GOOD_VALUES[signal_type]
    assert normalise_value(signal_type, f"{padding}{value}{padding}") == value


@pytest.mark.parametrize("signal_type", sorted(HEX_LENGTHS))
def test_it_rejects_a_hash_of_the_wrong_length(signal_type: str) -> None:
    value, length = GOOD_VALUES[signal_type], HEX_LENGTHS[signal_type]
    for wrong in (value[:-1], value + "0", value + value):
        assert_refused(
            "malformed_value", signal_type, wrong, mentioning=f"{length} hexadecimal characters"
        )


def test_it_rejects_a_pdq_of_the_wrong_length() -> None:
    assert_refused("malformed_value", "pdq", PDQ[:32], mentioning="64 hexadecimal characters")
    assert_refused("malformed_value", "pdq", PDQ[:32], mentioning="256 bits")
    assert_refused("malformed_value", "pdq", PDQ[:32], mentioning="got 32 characters")


@pytest.mark.parametrize("signal_type", sorted(HEX_LENGTHS))
@pytest.mark.parametrize("bad_character", ["g", "z", " ", "-", ":", "\u0660", "\uff10"])
def test_it_rejects_non_hex_characters(signal_type: str, bad_character: str) -> None:
    value = GOOD_VALUES[signal_type]
    bad = value[:5] + bad_character + value[6:]
    assert_refused("malformed_value", signal_type, bad, mentioning="at position 6")


def test_it_rejects_a_0x_prefix() -> None:
    assert_refused("malformed_value", "md5", "0x" + MD5[2:], mentioning="'x' at position 2")


def test_the_same_64_hex_characters_are_a_valid_pdq_and_a_valid_sha256() -> None:
    # Why every value travels with its type: the text alone cannot say which one it is.
    assert normalise_value("pdq", SHA256) == normalise_value("sha256", SHA256)
    assert_refused("malformed_value", "md5", SHA256, mentioning="32 hexadecimal characters")


@pytest.mark.parametrize("signal_type", sorted(HEX_LENGTHS))
def test_threatexchange_accepts_what_we_accept_and_refuses_what_we_refuse(
    signal_type: str,
) -> None:
    value = GOOD_VALUES[signal_type]
    samples = [value, value[:-1], value + "a", value[:5] + "g" + value[6:], "", "0" * len(value)]
    threatexchange_validator = THREATEXCHANGE_VALIDATORS[signal_type]
    for sample in samples:
        try:
            theirs: str | None = threatexchange_validator(sample)
        except ValueError:
            theirs = None
        try:
            ours: str | None = normalise_value(signal_type, sample)
        except SignalValueError:
            ours = None
        assert ours == theirs, sample


@pytest.mark.parametrize(
    ("signal_type", "examples"),
    [
        ("pdq", PdqSignal.get_examples()),
        ("video_md5", VideoMD5Signal.get_examples()),
        ("md5", VideoMD5Signal.get_examples()),
        ("sha256", VideoSHA256Signal.get_examples()),
    ],
)
def test_it_keeps_threatexchange_examples_unchanged(signal_type: str, examples: list[str]) -> None:
    assert [normalise_value(signal_type, example) for example in examples] == examples


def test_it_knows_a_stored_value_from_one_still_to_normalise() -> None:
    assert get_signal_type("pdq").is_normalised(PDQ)
    assert not get_signal_type("pdq").is_normalised(PDQ.upper())
    assert not get_signal_type("pdq").is_normalised(f" {PDQ}")
    assert not get_signal_type("md5").is_normalised(PDQ)


def test_pdq_hex_to_bytes_returns_the_32_bytes_of_the_hash() -> None:
    assert pdq_hex_to_bytes(PDQ.upper()) == bytes.fromhex(PDQ)
    assert len(pdq_hex_to_bytes(PDQ)) == 32


def test_pdq_hex_to_bytes_rejects_a_malformed_hash() -> None:
    with pytest.raises(SignalValueError) as caught:
        pdq_hex_to_bytes(MD5)
    assert caught.value.code == "malformed_value"


def test_hamming_distance_counts_the_bits_that_differ() -> None:
    assert hamming_distance_hex(PDQ, PDQ) == 0
    assert hamming_distance_hex(PDQ, PDQ_ONE_BIT_OFF) == 1
    assert hamming_distance_hex("0" * 64, "f" * 64) == 256
    assert hamming_distance_hex(f" {PDQ.upper()}", PDQ) == 0


def test_hamming_distance_agrees_with_threatexchange() -> None:
    examples = PdqSignal.get_examples()
    for a in examples:
        for b in examples:
            assert hamming_distance_hex(a, b) == simple_distance(a, b)


def test_hamming_distance_rejects_a_malformed_hash() -> None:
    with pytest.raises(SignalValueError):
        hamming_distance_hex(PDQ, PDQ[:-1])


@pytest.mark.parametrize(("given", "expected"), [(0, 0), (100, 100), ("75", 75), (" 050 ", 50)])
def test_it_accepts_a_pdq_quality_from_0_to_100(given: int | str, expected: int) -> None:
    assert normalise_pdq_quality(given) == expected


@pytest.mark.parametrize("given", [-1, 101, 1000, True, 50.0, "abc", "1e2", "-5", "", None])
def test_it_rejects_a_pdq_quality_outside_0_to_100(given: object) -> None:
    with pytest.raises(SignalValueError) as caught:
        normalise_pdq_quality(given)  # type: ignore[arg-type]
    assert caught.value.code == "malformed_value"
    assert "0 to 100" in caught.value.message


def test_it_rejects_a_pdq_quality_below_the_minimum_as_low_quality() -> None:
    assert require_pdq_quality(50) == 50
    with pytest.raises(SignalValueError) as caught:
        require_pdq_quality(49)
    assert caught.value.code == "low_quality"
    assert "minimum of 50" in caught.value.message


def test_a_caller_may_set_its_own_minimum_quality() -> None:
    assert require_pdq_quality("30", minimum=20) == 30
    with pytest.raises(SignalValueError):
        require_pdq_quality(80, minimum=90)


def test_it_parses_vpdq_frames_in_the_order_given() -> None:
    frames = parse_vpdq(VPDQ)
    assert [(frame.pdq_hex, frame.quality, frame.timestamp) for frame in frames] == [
        (PDQ, 100, 0.0),
        (PDQ_ONE_BIT_OFF, 87, 1.0),
    ]


def test_it_keeps_a_canonical_vpdq_value_unchanged() -> None:
    assert normalise_value("vpdq", VPDQ) == VPDQ


def test_it_normalises_vpdq_frames() -> None:
    given = json.dumps(
        [f" {PDQ.upper()} , 050 , 0.50000 ", f"{PDQ},100,1e+02", f"{PDQ},99,12.3456"], indent=2
    )
    assert normalise_value("vpdq", given) == json.dumps(
        [f"{PDQ},50,0.5", f"{PDQ},100,100.0", f"{PDQ},99,12.346"]
    )


@pytest.mark.parametrize(
    ("frames", "mentioning"),
    [
        ([f"{PDQ[:-1]},100,0.0"], "vpdq frame 1: pdq values must be exactly 64"),
        ([f"{PDQ},100,0.0", f"{PDQ},101,1.0"], "vpdq frame 2: PDQ quality"),
        ([f"{PDQ},100,-1.0"], "non-negative number of seconds"),
        ([f"{PDQ},100,nan"], "non-negative number of seconds"),
        ([f"{PDQ},100,1e400"], "at most"),
        ([f"{PDQ},100"], "got 2 comma-separated fields"),
        ([f"{PDQ},100,0.0,7"], "got 4 comma-separated fields"),
        ([[PDQ, 100, 0.0]], "got list"),
        ([], "at least one frame"),
    ],
)
def test_it_rejects_a_malformed_vpdq_frame(frames: list[object], mentioning: str) -> None:
    assert_refused("malformed_value", "vpdq", json.dumps(frames), mentioning=mentioning)


@pytest.mark.parametrize("value", ["not json", '{"0": "x"}', f'"{PDQ},100,0.0"', "[" * 100_000])
def test_it_rejects_a_vpdq_value_that_is_not_a_json_array(value: str) -> None:
    assert_refused("malformed_value", "vpdq", value, mentioning="JSON array")


def test_it_rejects_a_vpdq_value_with_too_many_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal_types, "VPDQ_MAX_FRAMES", 2)
    assert_refused("malformed_value", "vpdq", json.dumps([f"{PDQ},100,0.0"] * 3), mentioning="2")


def test_threatexchange_reads_our_vpdq_values(threatexchange_vpdq_util: ModuleType) -> None:
    given = json.dumps([f"{PDQ.upper()},050,0.5", f"{PDQ},100,123.456"])
    features = threatexchange_vpdq_util.json_to_vpdq(normalise_value("vpdq", given))
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in features] == [
        (PDQ, 50, 0.5),
        (PDQ, 100, 123.456),
    ]


def test_we_read_the_vpdq_values_threatexchange_writes(
    threatexchange_vpdq_util: ModuleType,
) -> None:
    compact_feature = threatexchange_vpdq_util.VpdqCompactFeature
    written = threatexchange_vpdq_util.vpdq_to_json(
        [compact_feature(PDQ, 100, 0.0), compact_feature(PDQ_ONE_BIT_OFF, 87, 1.0)]
    )
    assert normalise_value("vpdq", written) == VPDQ
    later = threatexchange_vpdq_util.vpdq_to_json([compact_feature(PDQ, 90, 250.0)])
    assert parse_vpdq(later)[0].timestamp == 250.0  # written by threatexchange as "2.5e+02"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("  https://example.com/\n", "https://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:0080/a", "http://example.com/a"),
        ("http://example.com:000008080/a", "http://example.com:8080/a"),
        ("http://example.com:/a", "http://example.com/a"),
        ("https://example.com:80/", "https://example.com:80/"),
        ("http://example.com:8080", "http://example.com:8080/"),
        ("http://user:secret@example.com/", "http://example.com/"),
        ("http://paypal.com@evil.example/login", "http://evil.example/login"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
        ("https://straße.example/", "https://xn--strae-oqa.example/"),
        ("https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0ecom/", "https://example.com/"),
        ("https://XN--BCHER-KVA.example/", "https://xn--bcher-kva.example/"),
        ("https://sub_domain.example.com/", "https://sub_domain.example.com/"),
        ("http://example.com./", "http://example.com/"),
        ("https://example.com/a#section", "https://example.com/a"),
        ("https://example.com/#", "https://example.com/"),
        ("https://example.com/%7Euser/%7e%41", "https://example.com/~user/~A"),
        ("https://example.com/a%2fb%3f%c3%a9", "https://example.com/a%2Fb%3F%C3%A9"),
        ("https://example.com/a b/é", "https://example.com/a%20b/%C3%A9"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/%zz", "https://example.com/%25zz"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%2E%2e/x/.", "https://example.com/x/"),
        ("https://example.com//a//b", "https://example.com//a//b"),
        ("https://example.com?b=2&a=1", "https://example.com/?b=2&a=1"),
        ("https://example.com/?q=a+b&x=%41%3d", "https://example.com/?q=a+b&x=A%3D"),
        ("https://example.com/?x=/./?", "https://example.com/?x=/./?"),
        ("https://example.com/?", "https://example.com/"),
        ("http://0x7F.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0300.0250.1.1/", "http://192.168.1.1/"),
        ("http://[2001:DB8:0:0::1]:80/", "http://[2001:db8::1]/"),
    ],
)
def test_it_normalises_a_url(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_it_stores_a_url_as_the_sha256_of_its_normalised_text() -> None:
    expected = hashlib.sha256(b"https://example.com/a?b=1").hexdigest()
    assert normalise_value("url", "HTTPS://EXAMPLE.com:443/a?b=1#top") == expected
    assert get_signal_type("url").is_normalised(expected)
    assert not get_signal_type("url").is_normalised("https://example.com/")


def test_equivalent_urls_give_one_value() -> None:
    spellings = [
        "https://example.com/~user/",
        "HTTPS://Example.com:443/%7Euser/",
        "https://someone:pw@example.com./a/../%7euser/#x",
    ]
    assert len({normalise_value("url", spelling) for spelling in spellings}) == 1


def test_threatexchange_url_examples_are_accepted() -> None:
    for example in URLSignal.get_examples():
        assert normalise_url(URLSignal.validate_signal_str(example)) == example


@pytest.mark.parametrize(
    ("given", "mentioning"),
    [
        ("ftp://example.com/", "http"),
        ("javascript:alert(1)", "http"),
        ("example.com/path", "http"),
        ("//example.com/", "http"),
        ("http:example.com", '"//"'),
        ("http:///path", "no host"),
        ("https://", "no host"),
        ("https://user@/", "no host"),
        ("http://./", "no host"),
        ("http://example.com:65536/", "port"),
        ("http://example.com:http/", "port"),
        ("http://example.com:" + "9" * 5000 + "/", "port"),
        ("http://exa mple.com/", "host label"),
        ("http://ex!ample.com/", "host label"),
        ("http://a..b/", "empty label"),
        ("http://%65xample.com/", "percent-encoded"),
        ("http://xn--zz.example/", "host label"),
        ("http://1.2.3.256/", "IPv4"),
        ("http://1.2.3.4.5/", "IPv4"),
        ("http://example.09/", "IPv4"),
        ("http://[::1/", "IPv6"),
        ("http://[::1]x/", "after the IPv6"),
        ("http://[fe80::1%25eth0]/", "IPv6"),
        ("http://example.com\\@evil.example/", "backslash"),
        ("http://example.com/a\nb", "control characters"),
        ("http://example.com/\x00", "control characters"),
        ("http://example.com/\ud800", "surrogates"),
        ("https://example.com/" + "a" * 9000, "at most 8192"),
    ],
)
def test_it_rejects_a_malformed_url(given: str, mentioning: str) -> None:
    assert_refused("malformed_value", "url", given, mentioning=mentioning)
    with pytest.raises(SignalValueError):
        normalise_url(given)


def test_it_imports_without_django() -> None:
    project_root = Path(signal_types.__file__).resolve().parents[1]
    check = "import sys, hashbank.signal_types; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], cwd=project_root, check=True)


def test_a_vpdq_value_with_no_frame_of_comparable_quality_is_low_quality() -> None:
    """Comparisons drop frames below quality 50, as the reference does: a value with no
    other frame would match nothing, so it is refused; one good frame is enough."""
    low = f'["{"ab" * 32},49,0.0","{"cd" * 32},0,1.0"]'
    with pytest.raises(SignalValueError) as caught:
        normalise_value("vpdq", low)
    assert caught.value.code == "low_quality"
    mixed = f'["{"ab" * 32},49,0.0", "{"cd" * 32},50,1.0"]'
    assert normalise_value("vpdq", mixed) == mixed
