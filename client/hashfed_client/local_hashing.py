"""Hashing a video on the member's own machine: vPDQ (hashfed_wire.vpdq, the reference's frame
sampling, each frame hashed with pdqhash as the hub hashes images), MD5 and SHA-256.

Needs the optional ``video`` extra (PyAV and pdqhash, with numpy): ``pip install
'hashfed-client[video]'``. They are imported when a video is hashed, never by the rest of the
client. The file is read into memory and decoded from there, one frame at a time.
"""

from __future__ import annotations

import hashlib
import importlib
import io
from typing import Any

from hashfed_client.errors import InputError
from hashfed_wire import vpdq

# The containers the hub's hosted hashing reads (by FFmpeg's demuxer names).
ACCEPTED_CONTAINERS = frozenset(
    {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv", "mpegts", "mpeg", "ogg", "asf"}
)


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InputError(
            f"hashing videos locally needs {name}: pip install 'hashfed-client[video]'"
        ) from exc


def hash_video(data: bytes) -> dict[str, Any]:
    """{"kind": "video", "vpdq", "frames", "md5", "sha256", "width", "height"}; InputError
    when the bytes are not a video in an accepted container or do not decode."""
    av = _optional("av")
    numpy = _optional("numpy")
    pdqhash = _optional("pdqhash")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError("not a video in an accepted container") from exc
    with container:
        if container.format.name not in ACCEPTED_CONTAINERS or not container.streams.video:
            raise InputError("not a video in an accepted container")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate
        if not rate or rate <= 0:
            raise InputError("the video declares no frame rate")
        frame_rate = float(rate)
        interval = vpdq.frame_interval(frame_rate)
        frames: list[vpdq.Frame] = []
        try:
            for number, frame in enumerate(container.decode(stream)):
                if number % interval:
                    continue
                pixels = frame.to_ndarray(format="rgb24", interpolation="AREA")
                bits, quality = pdqhash.compute(numpy.ascontiguousarray(pixels))
                value = int.from_bytes(numpy.packbits(bits.astype(numpy.uint8)).tobytes(), "big")
                frames.append(
                    vpdq.Frame(
                        f"{value:064x}", int(quality), vpdq.frame_timestamp(number, frame_rate)
                    )
                )
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError("the video does not decode") from exc
        if not frames:
            raise InputError("the video has no decodable frame")
        width, height = stream.codec_context.width, stream.codec_context.height
    return {
        "kind": "video",
        "vpdq": vpdq.to_json(frames),
        "frames": len(frames),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": width,
        "height": height,
    }
