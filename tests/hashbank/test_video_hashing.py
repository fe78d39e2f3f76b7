"""vPDQ and video MD5: hashing from memory, the reference's frame sampling and comparison,
hosted hashing of videos with its budgets, and lookups of vpdq values."""

import hashlib
import io
import os
import random
import sys
from fractions import Fraction

import av
import numpy as np
import pdqhash
import pytest

from hashbank import signal_types
from hashbank.matching.vpdq import ListedValues, compare_many
from hashbank.media_hashing import RefusedMedia
from hashbank.video_hashing import hash_video_bytes
from hashfed_wire import vpdq
from tests.conftest import approve_all, submit

UNLIMITED = {"max_duration": 3600.0, "max_frames": 1_000_000, "max_pixels": 24_000_000}


def clip(
    seed=0,
    seconds=5,
    fps: int | Fraction = 25,
    size=(320, 240),
    codec="libx264",
    container="mp4",
    bit_rate=None,
    crop=None,
) -> bytes:
    """Moving shapes over a blocky random background, encoded in memory."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    background = background.repeat(8, axis=0).repeat(8, axis=1)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        left, top, right, bottom = crop or (0, 0, width, height)
        stream.width, stream.height = right - left, bottom - top
        stream.pix_fmt = "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        for number in range(int(seconds * fps)):
            t = number / float(fps)
            pixels = np.roll(background, int(t * 20), axis=1)
            x = int((width - 60) * (0.5 + 0.5 * np.sin(t)))
            y = int((height - 60) * (0.5 + 0.5 * np.cos(1.3 * t)))
            pixels[y : y + 60, x : x + 60] = (255, 40, 40)
            pixels = np.ascontiguousarray(pixels[top:bottom, left:right])
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def original() -> bytes:
    return clip()


@pytest.fixture(scope="module")
def reencoded() -> bytes:
    """Another codec, container and a low bit rate."""
    return clip(codec="mpeg4", container="avi", bit_rate=150_000)


@pytest.fixture(scope="module")
def unrelated() -> bytes:
    return clip(seed=1)


def frames_of(data: bytes) -> list[vpdq.Frame]:
    return vpdq.parse(hash_video_bytes(data, **UNLIMITED).vpdq)


def test_frames_are_sampled_as_the_reference_does_and_hashed_with_pdqhash():
    # 29.97 frames per second: the reference hashes every int(1 × 29.97) = 29th decoded frame,
    # at time number / 29.97, each with PDQ on the RGB24 frame.
    rate = Fraction(30000, 1001)
    data = clip(fps=rate, seconds=4)
    hashes = hash_video_bytes(data, **UNLIMITED)
    expected = []
    with av.open(io.BytesIO(data)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number % 29 == 0:
                bits, quality = pdqhash.compute(frame.to_ndarray(format="rgb24"))
                value = int("".join(str(int(b)) for b in bits), 2)
                expected.append(
                    vpdq.Frame(f"{value:064x}", int(quality), round(number / float(rate), 3))
                )
    assert [f.timestamp for f in expected][:3] == [0.0, 0.968, 1.935]
    assert vpdq.parse(hashes.vpdq) == expected
    assert hashes.frames == len(expected) == 5
    assert hashes.md5 == hashlib.md5(data).hexdigest()
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert (hashes.width, hashes.height, hashes.frame_rate) == (320, 240, 29.97)


@pytest.mark.parametrize(
    ("fps", "codec", "container"),
    [
        (25, "libx264", "mp4"),
        (Fraction(30000, 1001), "libx264", "mp4"),
        (Fraction(24000, 1001), "libx264", "mov"),
        (25, "mpeg4", "avi"),
    ],
)
def test_the_hub_hashes_every_frame_as_the_native_vpdq_reference_does(
    fps, codec, container, tmp_path
):
    """facebook/ThreatExchange's vpdq (the C++ hasher over FFmpeg, built against Debian's
    FFmpeg development files; .ci/run installs it) gives the same frames, hashes, qualities
    and timestamps as the hub, on H.264 and MPEG-4 clips at whole and NTSC frame rates."""
    reference = pytest.importorskip("vpdq", reason="the native vpdq reference is not installed")
    data = clip(seed=11, seconds=4, fps=fps, codec=codec, container=container)
    path = tmp_path / f"clip.{container}"
    path.write_bytes(data)
    expected = [
        vpdq.Frame(feature.hex, int(feature.quality), round(float(feature.timestamp), 3))
        for feature in reference.computeHash(str(path))
    ]
    assert len(expected) >= 4
    assert vpdq.parse(hash_video_bytes(data, **UNLIMITED).vpdq) == expected


def test_the_value_is_in_the_stored_form_and_round_trips(original):
    value = hash_video_bytes(original, **UNLIMITED).vpdq
    assert signal_types.normalise_value("vpdq", value) == value
    assert vpdq.to_json(vpdq.parse(value)) == value
    # The reference's own spelling of a timestamp reads the same.
    first = vpdq.parse(value)[0]
    reference = f'["{first.pdq_hex.upper()},{first.quality},{first.timestamp:.3}"]'
    assert vpdq.parse(reference) == [first]


def test_a_reencoded_copy_matches_and_an_unrelated_clip_does_not(original, reencoded, unrelated):
    query = frames_of(original)
    same = vpdq.compare(query, frames_of(reencoded))
    assert same.is_match()
    assert same.query_match_percent == 100.0 and same.index_match_percent == 100.0
    other = vpdq.compare(query, frames_of(unrelated))
    assert not other.is_match()
    assert other.query_match_percent == 0.0


def test_a_cropped_copy_does_not_match(original):
    # PDQ is not robust to cropping: a copy with 20 pixels cut from each side (320×240 →
    # 280×200) shares no frame within 31 bits, so vPDQ does not match it either.
    cropped = clip(crop=(20, 20, 300, 220))
    comparison = vpdq.compare(frames_of(original), frames_of(cropped))
    assert not comparison.is_match()
    assert comparison.query_match_percent < 20.0


def _random_frames(rng: random.Random, count: int, base: list[int]) -> list[vpdq.Frame]:
    frames = []
    for i in range(count):
        value = rng.choice(base)
        for position in rng.sample(range(256), rng.choice((0, 10, 25, 31, 32, 40, 120))):
            value ^= 1 << position
        quality = rng.choice((100, 90, 50, 49, 10))
        frames.append(vpdq.Frame(f"{value:064x}", quality, float(i)))
    return frames


def test_the_vectorised_comparison_agrees_with_the_frame_by_frame_one():
    rng = random.Random(7)
    base = [rng.getrandbits(256) for _ in range(6)]
    listed_values = [_random_frames(rng, rng.randrange(1, 40), base) for _ in range(30)]
    listed_values.append(listed_values[0] + listed_values[0])  # repeated frames count once
    listed = ListedValues.build((key, vpdq.to_json(v)) for key, v in enumerate(listed_values))
    for _ in range(5):
        query = _random_frames(rng, rng.randrange(1, 60), base)
        for distance in (0, 31, 63):
            fast = dict(compare_many(vpdq.comparable_hashes(query), listed, distance))
            # The frame index and the exhaustive scan find the same pairs.
            scanned = compare_many(vpdq.comparable_hashes(query), listed, distance, use_index=False)
            assert dict(scanned) == fast
            for key, value in enumerate(listed_values):
                slow = vpdq.compare(query, value, distance_threshold=distance)
                if not vpdq.comparable_hashes(value):
                    assert key not in fast
                else:
                    assert fast[key] == slow, (key, distance)
    assert fast[len(listed_values) - 1] == fast[0]


def test_refusals_name_the_reason(original):
    def refusal(data: bytes, **budgets) -> str:
        with pytest.raises(RefusedMedia) as refused:
            hash_video_bytes(data, **{**UNLIMITED, **budgets})
        return refused.value.code

    assert refusal(b"hello, world") == "unsupported_media_type"
    assert refusal(os.urandom(4096)) == "unsupported_media_type"
    assert refusal(original, max_duration=3.0) == "video_too_long"
    assert refusal(original, max_frames=50) == "video_too_long"
    assert refusal(original, max_pixels=320 * 240 - 1) == "frame_too_large"
    matroska = clip(container="matroska")
    assert refusal(matroska[:1000]) == "invalid_video"
    damaged = bytearray(matroska)
    damaged[800:] = random.Random(3).randbytes(len(matroska) - 800)
    assert refusal(bytes(damaged)) == "invalid_video"


# Through the API


def hash_upload(actor, data: bytes, name="upload.bin", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return actor.client().post(
        "/api/v1/hash/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


def field_code(response) -> str:
    return response.json()["error"]["fields"]["file"][0]["code"]


_WRITES: list[str] | None = None


def _record_writes(event: str, args: tuple) -> None:
    # Opening a file descriptor (an int: the pipe to the hashing process) is not a file.
    if _WRITES is not None and event == "open" and isinstance(args[0], (str, bytes)):
        path, mode, flags = args
        if any(c in (mode or "") for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR):
            _WRITES.append(str(path))


sys.addaudithook(_record_writes)


def test_hosted_hashing_recognises_a_video_by_its_content(cast, original, settings, tmp_path):
    global _WRITES
    # Under the default upload handlers, an upload over this size would be written to a
    # temporary file; hosted hashing keeps it in memory: no file is opened for writing while
    # the request is served, and nothing appears in the temporary directory.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    # A first upload starts the hashing processes' server, which keeps its socket in /tmp.
    assert hash_upload(cast["pebble/admin"], b"warm-up").status_code == 400
    _WRITES = []
    try:
        response = hash_upload(cast["pebble/admin"], original, name="holiday.jpg")
        writes, _WRITES = _WRITES, None
    finally:
        _WRITES = None
    assert [w for w in writes if not w.endswith((".pyc", ".log"))] == []
    assert list(tmp_path.iterdir()) == []
    assert response.status_code == 200, response.content
    body = response.json()
    expected = hash_video_bytes(original, **UNLIMITED)
    assert body == {
        "kind": "video",
        "vpdq": expected.vpdq,
        "frames": 5,
        "md5": hashlib.md5(original).hexdigest(),
        "sha256": hashlib.sha256(original).hexdigest(),
        "format": "mov,mp4,m4a,3gp,3g2,mj2",
        "width": 320,
        "height": 240,
        "duration": 5.0,
        "frame_rate": 25.0,
    }


def test_hosted_hashing_refuses_videos_past_the_budgets(cast, original, settings):
    actor = cast["pebble/admin"]
    settings.HOSTED_HASH_VIDEO_MAX_DURATION = 3
    response = hash_upload(actor, original)
    assert response.status_code == 400 and field_code(response) == "video_too_long"
    settings.HOSTED_HASH_VIDEO_MAX_DURATION = 120
    settings.HOSTED_HASH_VIDEO_MAX_FRAMES = 100
    assert field_code(hash_upload(actor, original)) == "video_too_long"
    settings.HOSTED_HASH_VIDEO_MAX_FRAMES = 7_200
    settings.HOSTED_HASH_MAX_PIXELS = 1000
    assert field_code(hash_upload(actor, original)) == "frame_too_large"
    settings.HOSTED_HASH_MAX_PIXELS = 24_000_000
    assert field_code(hash_upload(actor, b"\x00\x00\x00\x18ftypmp42" + bytes(64))) in (
        "unsupported_media_type",
        "invalid_video",
    )
    assert field_code(hash_upload(actor, b"hello, world")) == "unsupported_media_type"
    settings.HOSTED_HASH_MAX_BYTES = len(original) - 1
    response = hash_upload(actor, original)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_a_video_that_overruns_the_time_budget_is_killed(cast, settings):
    import multiprocessing

    settings.HOSTED_HASH_MAX_SECONDS = 0.001
    settings.HOSTED_HASH_VIDEO_MAX_SECONDS = 0.001
    response = hash_upload(cast["pebble/admin"], clip(seconds=20))
    assert field_code(response) == "hashing_time_exceeded"
    assert multiprocessing.active_children() == []


@pytest.fixture
def listed_video(alice, signer_for, reencoded):
    """The re-encoded copy's vPDQ and MD5 listed in TVEC, an unrelated clip's vPDQ in CSAM."""
    signer = signer_for("northwind/admin")
    reencoded_hashes = hash_video_bytes(reencoded, **UNLIMITED)
    restricted = hash_video_bytes(clip(seed=5), **UNLIMITED)
    response = submit(
        alice,
        signer.envelope(signal_type="vpdq", value=reencoded_hashes.vpdq),
        signer.envelope(signal_type="video_md5", value=reencoded_hashes.md5),
        signer.envelope(
            signal_type="vpdq",
            value=restricted.vpdq,
            bank="CSAM",
            labels=["csam-child-sexual-abuse"],
        ),
    )
    assert response.status_code in (200, 201, 207), response.content
    approve_all()
    return reencoded_hashes, restricted


def lookup(actor, queries):
    return actor.client().post("/api/v1/lookup/", {"queries": queries}, format="json")


def test_a_vpdq_lookup_matches_with_the_reference_shares(bob, original, unrelated, listed_video):
    reencoded_hashes, _ = listed_video
    results = lookup(
        bob,
        [
            {"signal_type": "vpdq", "value": hash_video_bytes(original, **UNLIMITED).vpdq},
            {"signal_type": "vpdq", "value": hash_video_bytes(unrelated, **UNLIMITED).vpdq},
            {
                "signal_type": "vpdq",
                "value": hash_video_bytes(original, **UNLIMITED).vpdq,
                "max_distance": 64,
            },
        ],
    ).json()["results"]
    [match] = results[0]["matches"]
    assert match["signal_type"] == "vpdq" and match["value"] == reencoded_hashes.vpdq
    assert match["query_match_percent"] == 100.0 and match["index_match_percent"] == 100.0
    assert match["distance"] is None and match["bank"] == "TVEC"
    assert results[1]["matches"] == []
    assert results[2]["error"]["field"] == "queries.2.max_distance"


def test_a_vpdq_listed_in_a_restricted_bank_answers_only_members_granted_it(
    alice, bob, cast, listed_video
):
    _, restricted = listed_video
    query = [{"signal_type": "vpdq", "value": restricted.vpdq}]
    assert lookup(bob, query).json()["results"][0]["matches"] == []
    assert lookup(alice, query).json()["results"][0]["matches"][0]["bank"] == "CSAM"
    assert lookup(cast["open-harms-lab/researcher"], query).status_code == 403


def test_hosted_hashing_of_a_video_can_match_in_the_same_call(bob, original, listed_video):
    body = hash_upload(bob, original, match="true").json()
    assert [(m["signal_type"], m["query_match_percent"]) for m in body["matches"]] == [
        ("vpdq", 100.0)
    ]
    body = hash_upload(bob, clip(codec="mpeg4", container="avi", bit_rate=150_000), match="true")
    assert {m["signal_type"] for m in body.json()["matches"]} == {"vpdq", "video_md5"}


# The client


def test_the_client_hashes_a_video_locally_as_the_hub_does(original, tmp_path, capsys):
    import json

    from hashfed_client.cli import main

    path = tmp_path / "clip.mp4"
    path.write_bytes(original)
    assert main(["hash", "--local", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    hub = hash_video_bytes(original, **UNLIMITED)
    assert printed["vpdq"] == hub.vpdq and printed["md5"] == hub.md5
    assert printed["frames"] == 5
    (tmp_path / "notes.txt").write_text("hello, world")
    assert main(["hash", "--local", str(tmp_path / "notes.txt")]) == 2
    assert "not a video" in capsys.readouterr().err


def test_the_client_does_not_load_the_video_decoder_unless_asked():
    import subprocess

    code = "import sys, hashfed_client.cli, hashfed_wire.vpdq; print('av' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_each_frame_of_a_vpdq_query_counts_against_the_lookup_budget(bob, original, settings):
    from hashbank.models import LookupVolume

    value = hash_video_bytes(original, **UNLIMITED).vpdq  # 5 frames
    settings.LOOKUP_RATE_PER_MINUTE = 9
    assert lookup(bob, [{"signal_type": "vpdq", "value": value}]).status_code == 200
    assert LookupVolume.objects.get(organisation__slug="lakeside").queries == 5
    response = lookup(bob, [{"signal_type": "vpdq", "value": value}])
    assert response.status_code == 429
    assert LookupVolume.objects.get(organisation__slug="lakeside").queries == 6


def test_hosted_image_hashing_is_bit_exact_with_pdqhash_on_the_decoded_array(cast):
    from PIL import Image

    rng = np.random.default_rng(9)
    small = Image.fromarray(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((2000, 1500), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    bits, quality = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data))))
    body = hash_upload(cast["pebble/admin"], data).json()
    assert body["kind"] == "image"
    assert body["pdq"] == f"{int(''.join(str(int(b)) for b in bits), 2):064x}"
    assert body["pdq_quality"] == int(quality)
