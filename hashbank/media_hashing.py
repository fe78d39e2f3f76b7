"""Hashing an image's bytes: PDQ (the reference algorithm, through pdqhash as
python-threatexchange uses it), MD5 and SHA-256, decoding the image exactly once.

No Django here: this module is what runs in the short-lived process that hosted hashing
starts per upload (hashbank/hosted.py), which the hub kills when it overruns its time budget.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"})


@dataclass(frozen=True)
class MediaHashes:
    pdq: str
    pdq_quality: int
    md5: str
    sha256: str
    format: str
    width: int
    height: int


class RefusedMedia(Exception):
    """The upload is not something the hub will hash; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotAnImage(RefusedMedia):
    """No image decoder recognises the bytes (hosted hashing then tries them as a video)."""

    def __init__(self) -> None:
        super().__init__("invalid_image", "not a readable image")


def pdq_of_pixels(pixels: np.ndarray) -> tuple[str, int]:
    if pixels.ndim == 2:
        # pdqhash reads three channels; a grey image is its luminance three times, as
        # python-threatexchange's reference hasher feeds it.
        pixels = np.repeat(pixels[..., np.newaxis], 3, axis=2)
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    # Bit i of the vector is bit i of the hash, most significant first (the reference hex).
    value = int.from_bytes(np.packbits(bits.astype(np.uint8)).tobytes(), "big")
    return f"{value:064x}", int(quality)


def hash_image_bytes(data: bytes, *, max_pixels: int) -> MediaHashes:
    """Decode `data` once and hash it. Raises RefusedMedia for an empty file, a format other
    than ACCEPTED_FORMATS, more than `max_pixels` decoded pixels (read from the header,
    before anything is decoded) or anything that does not decode completely."""
    if not data:
        raise RefusedMedia("empty_file", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format or ""
                width, height = image.size
                if image_format not in ACCEPTED_FORMATS:
                    raise RefusedMedia(
                        "unsupported_media_type",
                        f"accepted image formats: {', '.join(sorted(ACCEPTED_FORMATS))}",
                    )
                if width * height > max_pixels:
                    raise RefusedMedia(
                        "image_too_large",
                        f"the image decodes to {width}×{height} pixels; at most "
                        f"{max_pixels:,} are hashed",
                    )
                image.load()  # the one decode: a truncated file fails here
                # Palette, alpha, CMYK and 16-bit images are hashed as plain RGB (pdqhash
                # reads raw arrays and would hash palette indices otherwise).
                converted = image if image.mode in ("RGB", "L") else image.convert("RGB")
                pixels = np.asarray(converted)
    except RefusedMedia:
        raise
    except UnidentifiedImageError as exc:
        raise NotAnImage() from exc
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise RefusedMedia("invalid_image", "not a readable image") from exc
    pdq, quality = pdq_of_pixels(pixels)
    return MediaHashes(
        pdq=pdq,
        pdq_quality=quality,
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        width=width,
        height=height,
    )


@dataclass(frozen=True)
class Budgets:
    """What hosted hashing accepts: pixels per image or frame; seconds of video and decoded
    frames per video."""

    max_pixels: int
    max_video_duration: float
    max_video_frames: int


def hash_in_child(data: bytes, budgets: Budgets, connection: Connection) -> None:
    """The body of hosted hashing's child process. Media that an image decoder does not
    recognise is read as a video: the child first sends ("video", None), so that the parent
    applies the video time budget, then ("ok", VideoHashes). Images answer ("ok",
    MediaHashes) directly; refusals are ("refused", (code, message))."""
    try:
        try:
            result: object = hash_image_bytes(data, max_pixels=budgets.max_pixels)
        except NotAnImage:
            from hashbank.video_hashing import hash_video_bytes

            connection.send(("video", None))
            result = hash_video_bytes(
                data,
                max_duration=budgets.max_video_duration,
                max_frames=budgets.max_video_frames,
                max_pixels=budgets.max_pixels,
            )
        connection.send(("ok", result))
    except RefusedMedia as refused:
        connection.send(("refused", (refused.code, refused.message)))
    finally:
        connection.close()
