"""Hosted hashing: the hub computes PDQ, MD5 and SHA-256 of an uploaded image for members
without their own hashing infrastructure. The bytes stay in memory and are dropped after
hashing; nothing of the media is stored or logged."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from PIL import Image, UnidentifiedImageError
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from accounts.errors import Invalid

ACCEPTED_FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"}


@dataclass(frozen=True)
class MediaHashes:
    pdq: str
    pdq_quality: int
    md5: str
    sha256: str
    format: str
    width: int
    height: int


class InMemoryOnlyUploadHandler(FileUploadHandler):
    """Keeps an upload in memory whatever its size, up to the configured limit, and stops
    the upload past it: Django's default handlers would spill large files to a temporary
    file on disk, which hosted hashing promises never to do."""

    def new_file(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > settings.HOSTED_HASH_MAX_BYTES:
            self.too_large = True
            self.buffer = io.BytesIO()
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def hash_image(data: bytes) -> MediaHashes:
    """Hash an image with the reference PDQ hasher (python-threatexchange's, on pdqhash).
    Raises Invalid for anything that is not a decodable image of an accepted format, or that
    decodes to more pixels than allowed (decompression bombs)."""
    if not data:
        raise Invalid.for_field("file", "the file is empty", code="empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                image_format = probe.format or ""
                width, height = probe.size
                if image_format not in ACCEPTED_FORMATS:
                    raise Invalid.for_field(
                        "file",
                        f"accepted image formats: {', '.join(sorted(ACCEPTED_FORMATS))}",
                        code="unsupported_media_type",
                    )
                if width * height > settings.HOSTED_HASH_MAX_PIXELS:
                    raise Invalid.for_field(
                        "file", "the image has too many pixels", code="image_too_large"
                    )
                probe.load()  # decodes fully: a truncated file fails here, not later
                mode = probe.mode
                rgb = None if mode in ("RGB", "L") else probe.convert("RGB")
    except Invalid:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise Invalid.for_field("file", "not a readable image", code="invalid_image") from exc
    if rgb is not None:
        # Palette, alpha and 16-bit images go to the reference hasher as plain RGB (it reads
        # raw pixel arrays and would hash palette indices otherwise).
        buffer = io.BytesIO()
        rgb.save(buffer, format="PNG")
        pdq_hex, quality = pdq_from_bytes(buffer.getvalue())
    else:
        pdq_hex, quality = pdq_from_bytes(data)
    return MediaHashes(
        pdq=pdq_hex,
        pdq_quality=int(quality),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        width=width,
        height=height,
    )
