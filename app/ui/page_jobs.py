"""Coroutines a page starts from a click: kept referenced until done, and a failure shown on the page, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class PageJobs:
    def __init__(self, show_failure: Callable[[str], None]) -> None:
        self._show_failure = show_failure
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, job: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``job`` on the running loop; if it raises, the page shows ``what`` failed and why."""
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, what))

    def _finished(self, task: asyncio.Task[None], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        failure = task.exception()  # retrieved here, so asyncio never reports it as lost
        if failure is not None:
            log.error("%s failed", what, exc_info=failure)
            self._show_failure(f"{what} failed: {type(failure).__name__}: {failure}")
