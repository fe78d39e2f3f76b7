"""The process class of hosted hashing's children (hashbank.hosted). Free of Django, so
that the fork server preloads it and each child unpickles it without importing anything."""

from __future__ import annotations

import io
import os
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from typing import Any


class _Popen(popen_forkserver.Popen):
    """The fork server's Popen, except that the child is not told to set up the parent's
    main module. The stdlib's child runs the parent's main script again (as `__mp_main__`)
    before its target whenever the server has not imported it, and on Python 3.11 the
    server never does (its `__main__` preload looks the path up under the wrong key): every
    upload paid for the gunicorn, manage.py or benchmark script and what it imports, about
    60 ms of CPU. The child needs nothing from there: its target and arguments are all
    importable by module name."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buffer = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buffer)
            reduction.dump(process_obj, buffer)
        finally:
            context.set_spawning_popen(None)
        # The rest as the stdlib's (Python 3.11 to 3.13), whose private names typeshed does
        # not list: a duplicate of the data pipe's write end is the child's sentinel of its
        # parent.
        self.sentinel, write = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        parent_write = os.dup(write)
        self.finalizer = util.Finalize(
            self,
            util.close_fds,  # type: ignore[attr-defined]
            (parent_write, self.sentinel),
        )
        with open(write, "wb", closefd=True) as pipe:
            pipe.write(buffer.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class HashingProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)
