"""Replace a worker process that died (kill -9, the OOM killer, a crash), and never outlive
the manager.

Sanic's worker manager (25.12) marks such a process FAILED and carries on without it: the
service silently runs on fewer workers. This thread of the main process watches the manager's
processes and asks the manager, through its own monitor channel (the message an auto-reload or
`app.m.restart()` sends), to restart one that died, with a growing pause for a process that
keeps dying so a worker that cannot start does not spin."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
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
SHUTDOWN_GRACE = 5.0  # every process gone and the manager still running: it hangs


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
                self._see_shutdown_through()
                return
            try:
                self._look()
            except Exception:  # the supervisor must outlive anything odd in the manager
                log.exception("worker supervisor: could not check the processes")

    def _see_shutdown_through(self) -> None:
        """Sanic 25.12's manager, told to stop before every worker acknowledged its start-up,
        waits for those acknowledgements forever (its wait_for_ack hands its own stop message
        back to itself, and counts no time while doing so). Once every process has exited and
        the manager still has not, for SHUTDOWN_GRACE, this exits for it. A stop that goes as
        it should sets `stop` (main_process_stop) long before."""
        idle_since: float | None = None
        while not self.stop.wait(CHECK_EVERY):
            if any(process.is_alive() for process in list(self.manager.processes)):
                idle_since = None
                continue
            now = time.monotonic()
            if idle_since is None:
                idle_since = now
            elif now - idle_since > SHUTDOWN_GRACE:
                log.error(
                    "every worker has stopped but Sanic's manager has not within %.0f s (a stop"
                    " signal came before the workers had acknowledged their start-up); exiting",
                    SHUTDOWN_GRACE,
                )
                # What Sanic's serve would do on its way out: stop its process-state manager
                # (a multiprocessing SyncManager, a process of its own).
                with contextlib.suppress(Exception):
                    self.manager.worker_state._manager.shutdown()
                logging.shutdown()
                os._exit(0)

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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_manager(signum: int = signal.SIGTERM) -> None:
    """A process Sanic's manager started is sent `signum` when the manager dies (kill -9, the OOM
    killer): left running, orphaned workers and the drainer kept the port and a CPU busy with
    nobody to stop them. The kernel delivers it (prctl PR_SET_PDEATHSIG), so nothing polls. Linux
    only; a no-op outside a manager (single-process serving, tests)."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        log.warning("cannot ask to be stopped with the manager: errno %s", ctypes.get_errno())
        return
    if os.getppid() != parent.pid:  # the manager died before the request took effect
        os.kill(os.getpid(), signum)
