"""Hashing a video's bytes: vPDQ (hashfed_wire.vpdq: the reference's frames, each hashed with
the same PDQ as images), MD5 and SHA-256 of the file.

The video is read from memory (a BytesIO handed to FFmpeg through PyAV), decoded one frame at
a time and dropped frame by frame; only the frames vPDQ samples are converted to RGB. Nothing
is written to disk. No Django here: this runs in hosted hashing's short-lived child process
(hashbank/hosted.py), which is killed when it overruns its time budget.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

from hashbank.media_hashing import RefusedMedia, pdq_of_pixels
from hashfed_wire import vpdq

# The codecs' and containers' own messages go nowhere: they would be the only trace of an
# upload's content in the logs.
av.logging.set_level(None)


# The containers read, by FFmpeg's demuxer names: MP4/QuickTime/3GP, Matroska/WebM, AVI, FLV,
# MPEG transport and program streams, Ogg, ASF/WMV. Others (image sequences, text art, raw
# streams) are refused before any decoding.
ACCEPTED_CONTAINERS = frozenset(
    {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv", "mpegts", "mpeg", "ogg", "asf"}
)
NOT_MEDIA = "neither an accepted image format nor a video in an accepted container"


@dataclass(frozen=True)
class VideoHashes:
    vpdq: str
    frames: int  # hashed frames (the vPDQ value's length)
    md5: str
    sha256: str
    format: str
    width: int
    height: int
    duration: float  # seconds of video decoded
    frame_rate: float


def _open(data: bytes) -> av.container.InputContainer:
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise RefusedMedia("unsupported_media_type", NOT_MEDIA) from exc
    if container.format.name not in ACCEPTED_CONTAINERS or not container.streams.video:
        container.close()
        raise RefusedMedia("unsupported_media_type", NOT_MEDIA)
    return container


def hash_video_bytes(
    data: bytes, *, max_duration: float, max_frames: int, max_pixels: int
) -> VideoHashes:
    """Decode the first video stream of `data` and hash it. Raises RefusedMedia:
    unsupported_media_type (no ACCEPTED_CONTAINERS container, or no video stream in it),
    video_too_long (a declared or decoded length over `max_duration` seconds, or more than
    `max_frames` decoded frames), frame_too_large (frames over `max_pixels` pixels) or
    invalid_video (a stream that does not decode, or no frame at all)."""
    if not data:
        raise RefusedMedia("empty_file", "the file is empty")
    container = _open(data)
    with container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise RefusedMedia(
                "frame_too_large",
                f"the video's frames are {width}×{height} pixels; at most {max_pixels:,} "
                "are hashed",
            )
        rate = stream.average_rate or stream.base_rate
        if not rate or rate <= 0:
            raise RefusedMedia("invalid_video", "the video declares no frame rate")
        frame_rate = float(Fraction(rate))
        declared = _declared_duration(container, stream)
        if declared is not None and declared > max_duration:
            raise RefusedMedia(
                "video_too_long",
                f"the video lasts {declared:.1f} s; at most {max_duration:g} s are hashed",
            )
        frames: list[vpdq.Frame] = []
        interval = vpdq.frame_interval(frame_rate)
        # A container may declare no length, or a false one: the decoded frames count too.
        limit = min(max_frames, int(max_duration * frame_rate) + 1)
        decoded = 0
        try:
            for number, frame in enumerate(container.decode(stream)):
                decoded = number + 1
                if decoded > limit:
                    raise RefusedMedia(
                        "video_too_long",
                        f"the video has more than {limit:,} frames; at most {max_duration:g} s "
                        f"and {max_frames:,} frames are hashed",
                    )
                if number % interval:
                    continue
                if frame.width * frame.height > max_pixels:
                    raise RefusedMedia("frame_too_large", f"a frame exceeds {max_pixels:,} pixels")
                # RGB24 at the frame's own size, the reference's conversion (area scaling).
                pixels = frame.to_ndarray(format="rgb24", interpolation="AREA")
                pdq_hex, quality = pdq_of_pixels(pixels)
                frames.append(
                    vpdq.Frame(pdq_hex, quality, vpdq.frame_timestamp(number, frame_rate))
                )
        except (av.error.FFmpegError, ValueError) as exc:
            raise RefusedMedia("invalid_video", "the video does not decode") from exc
        if not frames:
            raise RefusedMedia("invalid_video", "the video has no decodable frame")
        format_name = container.format.name
    return VideoHashes(
        vpdq=vpdq.to_json(frames),
        frames=len(frames),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        format=format_name,
        width=width,
        height=height,
        duration=round(decoded / frame_rate, 3),
        frame_rate=round(frame_rate, 3),
    )


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None
