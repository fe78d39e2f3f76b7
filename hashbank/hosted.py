"""Hosted hashing: the hub computes PDQ, MD5 and SHA-256 of an uploaded image, or vPDQ, MD5
and SHA-256 of an uploaded video, for members without their own hashing infrastructure. The
bytes stay in memory and are dropped after hashing; nothing of the media is stored, logged or
written to disk. Each upload is decoded once, in a child process bounded by a pixel budget,
for videos a length budget, and a time budget."""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.context
import time
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from core.errors import Invalid, ServiceError
from hashbank.hashing_process import HashingProcess
from hashbank.media_hashing import Budgets, MediaHashes, hash_in_child
from hashbank.video_hashing import VideoHashes

__all__ = [
    "FileTooLarge",
    "InMemoryOnlyUploadHandler",
    "MediaHashes",
    "VideoHashes",
    "hash_media",
]


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
    fork_server = multiprocessing.get_context("forkserver")
    # The process class too: each child unpickles it. Not the parent's main module, which the
    # children never import (hashbank.hashing_process).
    fork_server.set_forkserver_preload(
        ["hashbank.hashing_process", "hashbank.media_hashing", "hashbank.video_hashing"]
    )
    return fork_server


def hash_media(data: bytes) -> MediaHashes | VideoHashes:
    """Hash an image with the reference PDQ algorithm, or a video with vPDQ, plus MD5 and
    SHA-256, in a separate process that is killed if it runs past its time budget:
    HOSTED_HASH_MAX_SECONDS for an image (some small files take seconds to decode), and
    HOSTED_HASH_VIDEO_MAX_SECONDS in all once the child has found a video. Raises Invalid
    naming `file` with the child's refusal code (empty_file, invalid_image, image_too_large,
    unsupported_media_type, invalid_video, video_too_long, frame_too_large) or
    hashing_time_exceeded."""
    if not data:
        raise Invalid.for_field("file", "the file is empty", code="empty_file")
    budgets = Budgets(
        max_pixels=settings.HOSTED_HASH_MAX_PIXELS,
        max_video_duration=settings.HOSTED_HASH_VIDEO_MAX_DURATION,
        max_video_frames=settings.HOSTED_HASH_VIDEO_MAX_FRAMES,
    )
    receiver, sender = _process_context().Pipe(duplex=False)
    child = HashingProcess(target=hash_in_child, args=(data, budgets, sender), daemon=True)
    started = time.monotonic()
    child.start()
    sender.close()
    budget = settings.HOSTED_HASH_MAX_SECONDS
    kind = "image"
    try:
        while True:
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0 or not receiver.poll(remaining):
                raise Invalid.for_field(
                    "file",
                    f"the {kind} could not be hashed within {budget:g} s",
                    code="hashing_time_exceeded",
                )
            try:
                outcome, value = receiver.recv()
            except EOFError as exc:
                # The child died without answering (out of memory, or a crash in a decoder).
                code = "invalid_video" if kind == "video" else "invalid_image"
                raise Invalid.for_field("file", f"not a readable {kind}", code=code) from exc
            if outcome != "video":
                break
            kind = "video"
            budget = max(budget, settings.HOSTED_HASH_VIDEO_MAX_SECONDS)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if outcome == "refused":
        code, message = value
        raise Invalid.for_field("file", message, code=code)
    return value
