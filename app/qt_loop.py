"""The asyncio event loop that runs inside Qt's (qasync), with one of its flaws fixed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import TypeVar

os.environ.setdefault("QT_API", "pyside6")  # qasync would otherwise pick PyQt first if it is installed

import qasync

T = TypeVar("T")


class QtAsyncioLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop, except that ``run_until_complete`` does not pump Qt events after the loop stopped.

    qasync 0.28 processes pending Qt events once more after it has cleared the running loop, so asyncio callbacks
    queued in that moment run with no running loop and tasks die with "no running event loop". Whatever is pending
    simply runs on the next ``run_until_complete`` or ``run_forever`` instead.
    """

    def run_until_complete(self, future: Awaitable[T]) -> T:
        task = asyncio.ensure_future(future, loop=self)

        def stop(_done: object) -> None:
            self.stop()

        task.add_done_callback(stop)
        try:
            self.run_forever()
        finally:
            task.remove_done_callback(stop)
        if not task.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return task.result()
