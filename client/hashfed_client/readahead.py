"""Reading the next page of the change log while this one is checked and applied."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

P = TypeVar("P")


class ReadAhead(Generic[P]):
    """The pages from ``start`` on, in order, each fetched by ``fetch(position)`` in a
    thread of its own while the caller works on the page before: one page ahead, never
    more (the thread fetches page N+1 once the caller has taken page N, then waits).
    ``after(page)`` is the position of the page that follows, or None after the last one.

    An error of ``fetch`` or ``after`` is raised to the caller where the page would have
    come, after every page before it; nothing is fetched after it. ``close`` (or leaving a
    ``with`` block) stops the thread from fetching further; a fetch already under way ends
    on its own, its page unused."""

    def __init__(
        self, fetch: Callable[[int], P], after: Callable[[P], int | None], start: int
    ) -> None:
        self._fetch, self._after = fetch, after
        self._changed = threading.Condition()
        self._ready: list[tuple[P | None, BaseException | None]] = []
        self._closed = False
        self._finished = False
        self._thread = threading.Thread(
            target=self._run, args=(start,), name="hashfed-sync-read-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, position: int) -> None:
        while True:
            with self._changed:
                # One page ahead: the next fetch waits until the caller took the last page.
                self._changed.wait_for(lambda: not self._ready or self._closed)
                if self._closed:
                    return
            page: P | None = None
            error: BaseException | None = None
            following: int | None = None
            try:
                page = self._fetch(position)
                following = self._after(page)
            except BaseException as exc:  # raised again in the caller's thread
                error = exc
            with self._changed:
                self._ready.append((page, error))
                self._finished = error is not None or following is None
                self._changed.notify_all()
            if error is not None or following is None:
                return
            position = following

    def __iter__(self) -> Iterator[P]:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._ready) or self._finished)
                if not self._ready:
                    return
                page, error = self._ready.pop()
                self._changed.notify_all()
            if error is not None:
                self.close()
                raise error
            yield cast(P, page)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def __enter__(self) -> ReadAhead[P]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
