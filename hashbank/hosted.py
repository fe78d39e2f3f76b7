"""Hosted hashing: the hub computes PDQ, MD5 and SHA-256 of an uploaded image for members
without their own hashing infrastructure. The bytes stay in memory and are dropped after
hashing; nothing of the media is stored or logged. Each upload is decoded once, in a child
process bounded by a pixel budget and a time budget."""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.context
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from core.errors import Invalid, ServiceError
from hashbank.media_hashing import MediaHashes, hash_in_child

__all__ = ["FileTooLarge", "InMemoryOnlyUploadHandler", "MediaHashes", "hash_image"]


class FileTooLarge(ServiceError):
    """The upload passed HOSTED_HASH_MAX_BYTES (the handler stopped reading it)."""

    status_code = 413
    default_code = "file_too_large"


class InMemoryOnlyUploadHandler(FileUploadHandler):
    """Keeps an upload in memory whatever its size, up to the configured limit, and stops
    the upload past it: Django's default handlers would spill large files to a temporary
    file on disk, which hosted hashing promises never to do."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
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


def _process_context() -> multiprocessing.context.ForkServerContext:
    # A fork server, not a plain fork: web workers run threads, and a child forked from a
    # threaded process can inherit a lock some other thread held. The server is started once
    # with the imaging libraries loaded, so each upload's child starts in milliseconds.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["hashbank.media_hashing"])
    return context


def hash_image(data: bytes) -> MediaHashes:
    """Hash an image with the reference PDQ algorithm, plus MD5 and SHA-256, in a separate
    process that is killed if it runs past HOSTED_HASH_MAX_SECONDS (some small files take
    seconds to decode). Raises Invalid naming `file` for an empty file, an unaccepted format,
    more than HOSTED_HASH_MAX_PIXELS decoded pixels, a file that does not decode, or an image
    that could not be hashed within the time budget."""
    if not data:
        raise Invalid.for_field("file", "the file is empty", code="empty_file")
    context = _process_context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=hash_in_child,
        args=(data, settings.HOSTED_HASH_MAX_PIXELS, sender),
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(settings.HOSTED_HASH_MAX_SECONDS):
            raise Invalid.for_field(
                "file",
                f"the image could not be hashed within {settings.HOSTED_HASH_MAX_SECONDS} s",
                code="hashing_time_exceeded",
            )
        try:
            outcome, value = receiver.recv()
        except EOFError as exc:
            # The child died without answering (out of memory, or a crash in a decoder).
            raise Invalid.for_field("file", "not a readable image", code="invalid_image") from exc
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if outcome == "refused":
        code, message = value
        raise Invalid.for_field("file", message, code=code)
    return value
