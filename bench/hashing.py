"""Hosted hashing: video hashing against decoding alone, image hashing against the reference
PDQ hasher, in process and through the API. Import after django.setup().

- Video: a 60-second 1280×720 H.264 clip at 30 frames per second (moving shapes over a blocky
  background; 30 s with --quick), generated in memory. Baseline: decoding every frame with
  PyAV and nothing else. Then hashbank.video_hashing.hash_video_bytes in this process
  (decode, plus RGB conversion and PDQ of one frame per second), and POST /api/v1/hash/ (the
  same in hosted hashing's child process, plus the upload). Rates are decoded frames per
  second.
- Image: a 12-megapixel (4000×3000) JPEG. Baseline: python-threatexchange's reference hasher
  (pdq_hasher.pdq_from_bytes: PIL decode, numpy array, pdqhash). Then pdqhash.compute alone
  on the decoded array, hashbank.media_hashing.hash_image_bytes (which adds MD5 and SHA-256),
  and POST /api/v1/hash/. Each is timed in turn, REPEATS times (videos 3); the figure is the
  least CPU time of the turns (this process's, plus hosted hashing's child processes'), which
  other work on a shared machine disturbs far less than wall time; the least wall time is in
  the notes.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

import av
import numpy as np
import pdqhash
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from bench.measure import BenchError, Row, api_client, rotated
from hashbank.media_hashing import hash_image_bytes
from hashbank.video_hashing import hash_video_bytes

REPEATS = 7
VIDEO_BUDGETS = {"max_duration": 3600.0, "max_frames": 1_000_000, "max_pixels": 24_000_000}


def video_clip(seconds: int, size: tuple[int, int] = (1280, 720), fps: int = 30) -> bytes:
    width, height = size
    rng = np.random.default_rng(11)
    background = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    background = background.repeat(16, axis=0).repeat(16, axis=1)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 3_000_000
        for number in range(seconds * fps):
            t = number / fps
            pixels = np.roll(background, int(t * 40), axis=1)
            x = int((width - 200) * (0.5 + 0.5 * np.sin(t)))
            y = int((height - 200) * (0.5 + 0.5 * np.cos(1.3 * t)))
            pixels[y : y + 200, x : x + 200] = (255, 40, 40)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def jpeg_12mp() -> bytes:
    rng = np.random.default_rng(5)
    small = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((4000, 3000), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def decode_only(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def _post(client, data: bytes) -> dict:
    response = client.post("/api/v1/hash/", {"file": SimpleUploadedFile("upload", data)})
    if response.status_code != 200:
        raise BenchError(f"hosted hashing answered {response.status_code}: {response.content!r}")
    return response.json()


def _cpu_seconds() -> float:
    """CPU time used so far by this process and by hosted hashing's children. The children
    are the fork server's, not ours: the kernel adds each one's time to the fork server's
    cutime and cstime when it reaps it, which it has done by the time Process.join returns."""
    from multiprocessing import forkserver

    own = time.process_time()
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return own
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, so cutime (16) and cstime (17) are 13 and 14.
    ticks = int(fields[13]) + int(fields[14])
    return own + ticks / os.sysconf("SC_CLK_TCK")


def _best(
    steps: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Each step's least CPU time and least wall time over `repeats` turns. CPU time is the
    figure: on a shared machine wall time mostly measures the neighbours' load."""
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    wall: dict[str, list[float]] = {name: [] for name in steps}
    for turn in range(repeats):
        for name in rotated(list(steps), turn):
            cpu_started, started = _cpu_seconds(), time.perf_counter()
            steps[name]()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(_cpu_seconds() - cpu_started)
    return (
        {name: min(values) for name, values in cpu.items()},
        {name: min(values) for name, values in wall.items()},
    )


def bench_hashing(api_keys: dict[str, str], *, quick: bool) -> list[Row]:
    # The bench runs the production settings, which name no host; the test client's is let in
    # (once: overriding settings per request would clear Django's caches each time).
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        return _bench_hashing(api_keys, quick=quick)


def _bench_hashing(api_keys: dict[str, str], *, quick: bool) -> list[Row]:
    client = api_client(api_keys["lakeside/admin"])
    seconds = 30 if quick else 60
    video = video_clip(seconds)
    frames = decode_only(video)
    through_api = _post(client, video)  # also starts hosted hashing's process server
    if through_api["kind"] != "video":
        raise BenchError("the clip was not hashed as a video")
    video_times, video_wall = _best(
        {
            "decode": lambda: decode_only(video),
            "vpdq": lambda: hash_video_bytes(video, **VIDEO_BUDGETS),
            "api": lambda: _post(client, video),
        },
        repeats=1 if quick else 3,
    )
    decode = Row(
        "video: decode only (PyAV)",
        "video-decode",
        frames,
        video_times["decode"],
        "frames/s",
        baseline=True,
    )
    rows = [
        decode,
        Row(
            "video: vPDQ in process",
            "video-vpdq",
            frames,
            video_times["vpdq"],
            "frames/s",
            note=f"{seconds} s 1280×720 30 fps H.264, {len(video) / 1e6:.1f} MB, "
            f"{through_api['frames']} frames hashed",
        ).compared_with(decode),
        Row(
            "video: POST /api/v1/hash/",
            "video-api",
            frames,
            video_times["api"],
            "frames/s",
        ).compared_with(decode),
    ]

    image = jpeg_12mp()
    tiny_buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 200)).save(tiny_buffer, "PNG")
    tiny = tiny_buffer.getvalue()
    pixels = np.asarray(Image.open(io.BytesIO(image)))
    if _post(client, image)["pdq"] != pdq_from_bytes(image)[0]:
        raise BenchError("hosted hashing disagrees with the reference hasher")
    image_times, image_wall = _best(
        {
            "reference": lambda: pdq_from_bytes(image),
            "pdqhash": lambda: pdqhash.compute(pixels),
            "module": lambda: hash_image_bytes(image, max_pixels=24_000_000),
            "api": lambda: _post(client, image),
            "api-tiny": lambda: _post(client, tiny),
        },
        repeats=3 if quick else REPEATS,
    )
    reference = Row(
        "image: reference PDQ hasher",
        "image-reference",
        1,
        image_times["reference"],
        "images/s",
        baseline=True,
        note=f"12 MP JPEG, {len(image) / 1e6:.1f} MB; CPU seconds, least of the turns",
    )
    rows += [
        reference,
        Row(
            "image: pdqhash on the decoded array",
            "image-pdqhash",
            1,
            image_times["pdqhash"],
            "images/s",
        ).compared_with(reference),
        Row(
            "image: hash_image_bytes",
            "image-module",
            1,
            image_times["module"],
            "images/s",
        ).compared_with(reference),
        Row(
            "image: POST /api/v1/hash/",
            "image-api",
            1,
            image_times["api"],
            "images/s",
        ).compared_with(reference),
    ]
    rows.append(
        Row(
            "image: POST /api/v1/hash/, 64×64 PNG",
            "image-api-tiny",
            1,
            image_times["api-tiny"],
            "images/s",
            note="what a request costs whatever the image: the request, the child process",
        ).compared_with(reference)
    )
    for row, wall in zip(
        rows,
        [video_wall[k] for k in ("decode", "vpdq", "api")]
        + [image_wall[k] for k in ("reference", "pdqhash", "module", "api", "api-tiny")],
        strict=True,
    ):
        row.note = "; ".join(filter(None, [row.note, f"wall time {wall:.3f} s"]))
    return rows
