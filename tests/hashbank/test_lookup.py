import io
import random

import numpy as np
import pytest
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from hashbank.models import LookupVolume, Signal
from tests.conftest import approve_all, submit


def flip_bits(hex_value: str, count: int, seed: int = 1) -> str:
    bits = int(hex_value, 16)
    for position in random.Random(seed).sample(range(256), count):
        bits ^= 1 << position
    return f"{bits:064x}"


def lookup(actor, queries, **extra):
    return actor.client().post("/api/v1/lookup/", {"queries": queries, **extra}, format="json")


@pytest.fixture
def listed(alice, signer_for):
    """Three approved signals: a PDQ and an MD5 in TVEC, a PDQ in the restricted CSAM bank."""
    signer = signer_for("northwind/admin")
    pdq = "f0" * 32
    submit(
        alice,
        signer.envelope(value=pdq),
        signer.envelope(signal_type="md5", value="ab" * 16),
        signer.envelope(bank="CSAM", value="0f" * 32, labels=["csam-child-sexual-abuse"]),
    )
    approve_all()
    return pdq


def test_pdq_matches_within_the_distance_and_not_beyond(bob, listed):
    queries = [
        {"signal_type": "pdq", "value": flip_bits(listed, d, seed=d)} for d in (0, 10, 31, 32, 40)
    ]
    results = lookup(bob, queries).json()["results"]
    assert [len(r["matches"]) for r in results] == [1, 1, 1, 0, 0]
    assert [r["matches"][0]["distance"] for r in results[:3]] == [0, 10, 31]
    match = results[0]["matches"][0]
    assert match["bank"] == "TVEC" and match["labels"] == ["tvec-glorification"]
    assert match["disputed"] is False and 0 < match["confidence"] < 1


def test_a_per_request_threshold_within_limits(bob, listed):
    near = flip_bits(listed, 40)
    assert lookup(bob, [{"signal_type": "pdq", "value": near, "max_distance": 45}]).json()[
        "results"
    ][0]["matches"]
    result = lookup(bob, [{"signal_type": "pdq", "value": near, "max_distance": 64}]).json()[
        "results"
    ][0]
    assert result["error"]["field"] == "queries.0.max_distance"


def test_exact_types_match_exactly(bob, listed):
    results = lookup(
        bob,
        [
            {"signal_type": "md5", "value": "AB" * 16},
            {"signal_type": "md5", "value": "ab" * 15 + "ac"},
        ],
    ).json()["results"]
    assert len(results[0]["matches"]) == 1 and results[0]["matches"][0]["distance"] is None
    assert results[1]["matches"] == []


def test_malformed_queries_are_rejected_one_by_one(bob, listed):
    results = lookup(
        bob,
        [
            {"signal_type": "pdq", "value": listed},
            {"signal_type": "pdq", "value": "xyz"},
            {"signal_type": "nope", "value": "1"},
            "not an object",
            # A video whose every frame is of too low a quality to compare matches nothing.
            {"signal_type": "vpdq", "value": f'["{"ab" * 32},10,0.0"]'},
        ],
    ).json()["results"]
    assert len(results[0]["matches"]) == 1
    assert results[1]["error"]["field"] == "queries.1.value"
    assert results[2]["error"]["field"] == "queries.2.signal_type"
    assert results[3]["error"]["field"] == "queries.3"
    assert results[4]["error"] == {
        "code": "low_quality",
        "field": "queries.4.value",
        "message": results[4]["error"]["message"],
    }
    assert "below 50" in results[4]["error"]["message"]


def test_a_restricted_bank_answers_only_members_granted_it(alice, bob, listed):
    query = [{"signal_type": "pdq", "value": "0f" * 32}]
    assert lookup(bob, query).json()["results"][0]["matches"] == []
    assert lookup(alice, query).json()["results"][0]["matches"][0]["bank"] == "CSAM"


def test_a_withdrawn_signal_stops_matching_at_once(alice, bob, listed):
    query = [{"signal_type": "pdq", "value": listed}]
    assert lookup(bob, query).json()["results"][0]["matches"]
    from hashbank.models import Submission

    submission = Submission.objects.get(value=listed)
    alice.client().post(f"/api/v1/submissions/{submission.submission_id}/withdraw/")
    assert lookup(bob, query).json()["results"][0]["matches"] == []


def test_a_signal_added_after_the_index_was_built_matches(alice, bob, listed, signer_for):
    lookup(bob, [{"signal_type": "pdq", "value": listed}])  # builds and loads the index
    fresh = "3c" * 32
    submit(alice, signer_for("northwind/admin").envelope(value=fresh))
    approve_all()
    assert (
        lookup(bob, [{"signal_type": "pdq", "value": flip_bits(fresh, 5)}]).json()["results"][0][
            "matches"
        ][0]["distance"]
        == 5
    )


def test_who_may_look_up(cast, listed):
    query = [{"signal_type": "pdq", "value": listed}]
    assert lookup(cast["ruritania-ctu/liaison"], query).status_code == 403
    assert lookup(cast["open-harms-lab/researcher"], query).status_code == 403
    assert lookup(cast["shadyshare/admin"], query).status_code == 403
    # An associate member matches against the banks open to all members only.
    assert lookup(cast["pebble/admin"], query).json()["results"][0]["matches"] == []


def test_the_batch_limits(bob):
    assert lookup(bob, []).status_code == 400
    too_many = [{"signal_type": "md5", "value": "00" * 16}] * 10_001
    response = lookup(bob, too_many)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["queries"][0]["code"] == "batch_too_large"


def test_lookups_are_rate_limited_per_organisation(bob, cast, settings):
    settings.LOOKUP_RATE_PER_MINUTE = 5
    query = [{"signal_type": "md5", "value": "00" * 16}] * 3
    assert lookup(bob, query).status_code == 200
    response = bob.client().post(
        "/api/v1/lookup/", {"queries": query}, format="json", HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "rate_limited"
    # Another key of the same organisation shares the budget; another organisation does not.
    assert lookup(cast["lakeside/analyst"], query[:1]).status_code == 200
    assert lookup(cast["northwind/viewer"], query).status_code == 200
    volume = LookupVolume.objects.get(organisation__slug="lakeside")
    assert volume.queries == 4


def image_bytes(image_format: str, size=(320, 240), seed=3) -> bytes:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :, None]
    pixels = gradient + rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format=image_format)
    return buffer.getvalue()


def hash_upload(actor, data: bytes, name="upload.bin", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return actor.client().post(
        "/api/v1/hash/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_hosted_hashing_agrees_with_the_reference_hasher(cast, image_format):
    data = image_bytes(image_format)
    response = hash_upload(cast["pebble/admin"], data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kind"] == "image"
    assert (body["pdq"], body["pdq_quality"]) == pdq_from_bytes(data)
    import hashlib

    assert body["md5"] == hashlib.md5(data).hexdigest()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()


def test_hosted_hashing_can_match_in_the_same_call(alice, bob, signer_for):
    data = image_bytes("PNG")
    pdq, _ = pdq_from_bytes(data)
    submit(alice, signer_for("northwind/admin").envelope(value=flip_bits(pdq, 3)))
    approve_all()
    body = hash_upload(bob, data, match="true").json()
    assert [m["distance"] for m in body["matches"]] == [3]


def test_hosted_hashing_refuses_what_is_not_an_image(cast, settings):
    client_actor = cast["pebble/admin"]
    truncated = image_bytes("JPEG")[:500]
    for data, code in [
        (b"hello, world", "unsupported_media_type"),
        (truncated, "invalid_image"),
        (b"", "empty_file"),
    ]:
        response = hash_upload(client_actor, data)
        assert response.status_code == 400, (code, response.content)
        assert response.json()["error"]["fields"]["file"][0]["code"] in (
            code,
            "empty_file",
            "invalid",
        )
    settings.HOSTED_HASH_MAX_BYTES = 1000
    response = hash_upload(client_actor, image_bytes("PNG"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    missing = client_actor.client().post("/api/v1/hash/", {}, format="multipart")
    assert missing.status_code == 400


def pixel_bomb(size=(6000, 6000)) -> bytes:
    """A PNG of a few hundred KiB that decodes to width × height pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 200)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_hosted_hashing_refuses_a_small_file_that_decodes_past_the_pixel_budget(cast, settings):
    data = pixel_bomb()
    assert len(data) < 200 * 1024
    settings.HOSTED_HASH_MAX_PIXELS = 24_000_000
    response = hash_upload(cast["pebble/admin"], data)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["file"][0]["code"] == "image_too_large"


def test_hosted_hashing_refuses_an_upload_that_overruns_the_time_budget(cast, settings):
    import multiprocessing

    settings.HOSTED_HASH_MAX_SECONDS = 0.001
    response = hash_upload(cast["pebble/admin"], image_bytes("PNG", size=(3000, 2000)))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["file"][0]["code"] == "hashing_time_exceeded"
    # The process that overran was killed, not left running.
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_hosted_hashing_decodes_each_upload_once(monkeypatch, image_format):
    from PIL import Image as PILImage

    from hashbank.media_hashing import hash_image_bytes

    opened = []
    original_open = PILImage.open

    def counting_open(*args, **kwargs):
        opened.append(args)
        return original_open(*args, **kwargs)

    monkeypatch.setattr(PILImage, "open", counting_open)
    data = image_bytes(image_format)
    hashes = hash_image_bytes(data, max_pixels=50_000_000)
    assert len(opened) == 1
    if image_format in ("PNG", "JPEG"):
        assert (hashes.pdq, hashes.pdq_quality) == pdq_from_bytes(data)


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "L", "CMYK"])
def test_hosted_hashing_hashes_every_colour_mode_as_the_reference_hasher_sees_it(mode):
    from hashbank.media_hashing import hash_image_bytes

    rgb = Image.open(io.BytesIO(image_bytes("PNG")))
    image = rgb.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode == "CMYK" else "PNG")
    # The reference: the same pixels as plain RGB (grey stays grey), hashed by
    # python-threatexchange.
    reference = io.BytesIO()
    (image if mode == "L" else image.convert("RGB")).save(reference, format="PNG")
    hashes = hash_image_bytes(buffer.getvalue(), max_pixels=50_000_000)
    assert (hashes.pdq, hashes.pdq_quality) == pdq_from_bytes(reference.getvalue())


def test_hosted_hashing_stores_nothing(cast, tmp_path, settings):
    import tempfile

    before = set(tempfile.gettempdir() and __import__("os").listdir(tempfile.gettempdir()))
    hash_upload(cast["pebble/admin"], image_bytes("PNG", size=(2000, 1500)))
    after = set(__import__("os").listdir(tempfile.gettempdir()))
    assert not any(
        name.endswith(".upload") or name.endswith(".upload.bin") for name in after - before
    )
    assert not Signal.objects.exists()


def test_hosted_hashing_takes_match_as_true_or_false_only(cast):
    response = hash_upload(cast["pebble/admin"], image_bytes("PNG"), match="0")
    assert response.status_code == 400
    assert "match" in response.json()["error"]["fields"]
    matched = hash_upload(cast["pebble/admin"], image_bytes("PNG"), match="true")
    assert matched.status_code == 200
    assert "matches" in matched.json()
    plain = hash_upload(cast["pebble/admin"], image_bytes("PNG"))
    assert "matches" not in plain.json()


SERVER_SCRIPT = """
import os
import sys

# Runs once in the server's process; a hashing child that ran it again would add a line.
with open(sys.argv[1], "a") as marks:
    marks.write(f"{os.getpid()}\\n")

if __name__ == "__main__":
    os.environ["DJANGO_SETTINGS_MODULE"] = "federation.test_settings"
    import django

    django.setup()
    from hashbank.hosted import hash_media

    for _ in range(3):
        print(hash_media(open(sys.argv[2], "rb").read()).pdq)
"""


def test_hashing_children_never_run_the_servers_main_script_again(tmp_path):
    # A server started from a script (gunicorn's, manage.py) is a main module given by path:
    # multiprocessing's children run such a script again before their target unless told
    # not to, which cost every upload tens of milliseconds of CPU.
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "server.py"
    script.write_text(SERVER_SCRIPT)
    marks = tmp_path / "marks"
    image = tmp_path / "image.png"
    image.write_bytes(image_bytes("PNG"))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), str(marks), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env={**__import__("os").environ, "PYTHONPATH": f"{repo}:{repo / 'client'}"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [pdq_from_bytes(image_bytes("PNG"))[0]] * 3
    assert len(marks.read_text().split()) == 1
