"""`make run`'s process supervisor: every Procfile process, restarted with backoff when it dies.

A process that exits or is killed is started again after a backoff (`apps.core.domain.backoff`,
reset once it has stayed up `STABLE_AFTER_SECONDS`), with a log line, while the others run on;
the embedded PostgreSQL and Redis are watched the same way. Ctrl-C (SIGINT or SIGTERM) stops
every process: SIGTERM to each process group, SIGKILL after `STOP_TIMEOUT_SECONDS`, at once on
a second Ctrl-C. Each child runs in a process group of its own (so a Celery worker's children
go with it, and a terminal's Ctrl-C reaches only the supervisor, which stops them in order)
and gets SIGTERM if the supervisor itself dies, so nothing outlives it.

Output: each line of a child is printed as `HH:MM:SS name | line`, like honcho's.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from apps.core.domain.backoff import Backoff

STABLE_AFTER_SECONDS = 30.0  # a process up this long is well again: its next restart waits the shortest time
STOP_TIMEOUT_SECONDS = 15.0
RESTART_BASE_SECONDS = 0.5  # the first restart after 0.5-1 s, then 1-2, 2-4 ... up to the cap
RESTART_CAP_SECONDS = 30.0
POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str  # a shell command line, as in a Procfile


def read_procfile(path: Path) -> list[ProcessSpec]:
    """`name: command` lines; blank lines and `#` comments are skipped."""
    specs = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            specs.append(ProcessSpec(match.group(1), match.group(2)))
    return specs


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not Linux: Ctrl-C still stops everything
        return None


_prctl = _load_prctl()  # looked up before any fork: the child only calls it


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (Linux), so no process outlives it."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Watched:
    """What the supervisor keeps about one process."""

    spec: ProcessSpec
    backoff: Backoff = field(default_factory=lambda: Backoff(base=RESTART_BASE_SECONDS, cap=RESTART_CAP_SECONDS))
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class ServiceWatch:
    """A server the supervisor keeps up that is not its child (the embedded PostgreSQL or Redis)."""

    name: str
    is_running: Callable[[], bool]
    start: Callable[[], object]
    backoff: Backoff = field(default_factory=lambda: Backoff(base=RESTART_BASE_SECONDS, cap=RESTART_CAP_SECONDS))
    retry_at: float | None = None
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        specs: list[ProcessSpec],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        services: list[ServiceWatch] | None = None,
        out: IO[str] | None = None,
        stable_after: float = STABLE_AFTER_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self.watched = {spec.name: Watched(spec) for spec in specs}
        self.services = services or []
        self.cwd = cwd
        self.env = env
        self.out = out or sys.stdout
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self.stop_requested = threading.Event()
        self.force_requested = threading.Event()
        self._width = max([len(name) for name in self.watched] + [len("supervisor")])
        self._print_lock = threading.Lock()

    # Output ----------------------------------------------------------------------------

    def say(self, name: str, text: str) -> None:
        with self._print_lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name.ljust(self._width)} | {text}\n")
            self.out.flush()

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # Processes ---------------------------------------------------------------------------

    def _spawn(self, watched: Watched) -> None:
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec env {watched.spec.command}"],  # `env`: the Procfile's VAR=value prefixes; exec: the PID is the process's
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only a prctl before exec, safe in the fork child
        )
        watched.process, watched.started_at, watched.restart_at = process, time.monotonic(), None
        assert process.stdout is not None
        threading.Thread(target=self._relay, args=(watched.spec.name, process.stdout), daemon=True).start()
        self.say("supervisor", f"started {watched.spec.name} (pid {process.pid})")

    def pid(self, name: str) -> int | None:
        process = self.watched[name].process
        return process.pid if process is not None and process.poll() is None else None

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes], signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _check_process(self, watched: Watched, now: float) -> None:
        process = watched.process
        if process is None:
            if watched.restart_at is not None and now >= watched.restart_at:
                watched.restarts += 1
                self._spawn(watched)
            return
        code = process.poll()
        if code is None:
            if now - watched.started_at >= self.stable_after:
                watched.backoff.reset()
            return
        self._kill_group(process, signal.SIGKILL)  # what it left behind (a Celery worker's pool children)
        ran = now - watched.started_at
        delay = watched.backoff.next_delay()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.say("supervisor", f"{watched.spec.name} {how} after {ran:.1f} s; restarting in {delay:.1f} s (restart {watched.restarts + 1})")
        watched.process, watched.restart_at = None, now + delay

    def _check_service(self, service: ServiceWatch, now: float) -> None:
        if service.retry_at is not None and now < service.retry_at:
            return
        try:
            running = service.is_running()
        except Exception:  # noqa: BLE001 - a status we cannot read is a server to start
            running = False
        if running:
            service.retry_at = None
            return
        self.say("supervisor", f"{service.name} is not running; starting it (restart {service.restarts + 1})")
        try:
            service.start()
        except Exception as exc:  # noqa: BLE001 - retried with backoff
            delay = service.backoff.next_delay()
            self.say("supervisor", f"starting {service.name} failed ({exc}); retrying in {delay:.1f} s")
            service.retry_at = now + delay
            return
        service.restarts += 1
        service.backoff.reset()
        service.retry_at = None
        self.say("supervisor", f"{service.name} is back")

    def check_once(self) -> None:
        now = time.monotonic()
        for service in self.services:
            self._check_service(service, now)
        for watched in self.watched.values():
            self._check_process(watched, now)

    # Lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: stop in order; a second: kill at once."""
        if self.stop_requested.is_set():
            self.force_requested.set()
        self.stop_requested.set()

    def run(self) -> None:
        """Start every process and keep them up until `request_stop`; then stop them all."""
        try:
            for watched in self.watched.values():
                self._spawn(watched)
            while not self.stop_requested.wait(POLL_SECONDS):
                self.check_once()
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        running = [w.process for w in self.watched.values() if w.process is not None and w.process.poll() is None]
        self.say("supervisor", f"stopping {len(running)} process(es)")
        for process in running:
            self._kill_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while any(p.poll() is None for p in running) and time.monotonic() < deadline and not self.force_requested.is_set():
            time.sleep(0.05)
        for process in running:
            self._kill_group(process, signal.SIGKILL)  # whatever is left, children included
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def run_until_interrupted(supervisor: Supervisor) -> None:
    """Run `supervisor` in this (main) thread; SIGINT and SIGTERM stop it (twice: at once)."""

    def on_signal(_signum: int, _frame: object) -> None:
        supervisor.request_stop()

    previous_int = signal.signal(signal.SIGINT, on_signal)
    previous_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.run()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
