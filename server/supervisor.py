"""Replace a worker process that died (kill -9, the OOM killer, a crash).

Sanic's worker manager (25.12) marks such a process FAILED and carries on without it: the
service silently runs on fewer workers. This thread of the main process watches the manager's
processes and asks the manager, through its own monitor channel (the message an auto-reload or
`app.m.restart()` sends), to restart one that died, with a growing pause for a process that
keeps dying so a worker that cannot start does not spin."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sanic.worker.constants import ProcessState

log = logging.getLogger(__name__)

CHECK_EVERY = 0.5  # seconds between looks at the processes
# The first death is restarted at once; one within the pause after a restart waits for it, and
# the pause doubles (2, 4, … 30 s) while the process keeps dying.
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
STABLE_AFTER = 60.0  # a process that lived this long starts again from FIRST_PAUSE


class WorkerSupervisor:
    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.stop = threading.Event()
        self._pause: dict[str, float] = {}
        self._restarted_at: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self.stop.wait(CHECK_EVERY):
            if getattr(self.manager, "_shutting_down", False):
                return
            try:
                self._look()
            except Exception:  # the supervisor must outlive anything odd in the manager
                log.exception("worker supervisor: could not check the processes")

    def _look(self) -> None:
        now = time.monotonic()
        for process in list(self.manager.processes):
            if not process.restartable or process.state is not ProcessState.FAILED:
                continue
            if process.is_alive():
                continue
            name = process.name
            last = self._restarted_at.get(name)
            pause = self._pause.get(name, FIRST_PAUSE)
            if last is not None and now - last > STABLE_AFTER + pause:
                pause = FIRST_PAUSE
            if last is not None and now - last < pause:
                continue
            log.error(
                "worker %s (pid %s) died with exit code %s; starting a new one",
                name,
                process.pid,
                process.exitcode,
            )
            self._restarted_at[name] = now
            self._pause[name] = min(pause * 2, LONGEST_PAUSE)
            self.manager.monitor_publisher.send(name)
