"""`make run`'s supervisor with real processes: a killed one comes back alone, Ctrl-C stops all of them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.core.embedded.process import pid_is_alive, unix_socket_accepts
from apps.core.embedded.supervisor import ProcessSpec, ServiceWatch, Supervisor, read_procfile

ROOT = Path(__file__).resolve().parents[3]
SLEEPER = f"{sys.executable} -c 'import time; time.sleep(120)'"


def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def running() -> Iterator[list[Supervisor]]:
    """Supervisors started by a test, each run on a thread, all stopped at the end."""
    started: list[tuple[Supervisor, threading.Thread]] = []
    holder: list[Supervisor] = []

    def start(supervisor: Supervisor) -> Supervisor:
        thread = threading.Thread(target=supervisor.run, daemon=True)
        thread.start()
        started.append((supervisor, thread))
        return supervisor

    holder.append(start)  # type: ignore[arg-type]
    yield holder
    for supervisor, thread in started:
        supervisor.request_stop()
        thread.join(30)


def _supervisor(*specs: ProcessSpec, **kwargs: object) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    return Supervisor(list(specs), cwd=ROOT, out=out, **kwargs), out  # type: ignore[arg-type]


def test_the_procfile_is_read_as_name_and_command() -> None:
    specs = {spec.name: spec.command for spec in read_procfile(ROOT / "Procfile")}

    assert set(specs) == {"web", "ws", "proxy", "worker", "beat", "flower", "stream"}
    assert specs["stream"] == "DATABASE_ROLE=system python manage.py stream_market"


def test_a_killed_process_is_restarted_with_a_log_line_and_the_others_run_on(running) -> None:
    supervisor, out = _supervisor(ProcessSpec("web", SLEEPER), ProcessSpec("worker", SLEEPER))
    running[0](supervisor)
    assert _wait_for(lambda: supervisor.pid("web") and supervisor.pid("worker"))
    web, worker = supervisor.pid("web"), supervisor.pid("worker")

    os.kill(web, signal.SIGKILL)  # type: ignore[arg-type]

    assert _wait_for(lambda: supervisor.pid("web") not in (None, web), timeout=5)
    assert supervisor.pid("worker") == worker
    assert _wait_for(lambda: f"started web (pid {supervisor.pid('web')})" in out.getvalue())
    log = out.getvalue()
    assert "web was killed by signal 9 after" in log and "restarting in" in log


def test_a_process_that_keeps_crashing_is_restarted_with_growing_waits(running) -> None:
    supervisor, out = _supervisor(ProcessSpec("beat", f"{sys.executable} -c 'raise SystemExit(3)'"))
    running[0](supervisor)

    assert _wait_for(lambda: out.getvalue().count("beat exited with code 3") >= 3, timeout=15)
    waits = [float(line.split("restarting in ")[1].split(" s")[0]) for line in out.getvalue().splitlines() if "restarting in" in line]
    assert waits[0] <= 2.0 < sum(waits[:3])  # 0.5-1, then 1-2, then 2-4 s


def test_stopping_ends_every_process_and_what_it_started(running) -> None:
    spawner = f"sh -c '{SLEEPER.replace(chr(39), chr(34))} & echo child $!; wait'"
    supervisor, out = _supervisor(ProcessSpec("worker", spawner), ProcessSpec("web", SLEEPER), stop_timeout=5)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    assert _wait_for(lambda: "child " in out.getvalue() and supervisor.pid("web"))
    grandchild = int(out.getvalue().split("child ")[1].split()[0])
    pids = [supervisor.pid("worker"), supervisor.pid("web"), grandchild]

    supervisor.request_stop()
    thread.join(20)

    assert not thread.is_alive()
    assert not any(pid_is_alive(pid) for pid in pids if pid is not None)


def test_when_the_supervisor_itself_is_killed_its_processes_end_too(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from apps.core.embedded.supervisor import ProcessSpec, Supervisor
        Supervisor([ProcessSpec("web", {SLEEPER!r})], cwd=Path({str(ROOT)!r})).run()
        """
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = launcher.stdout.readline()  # type: ignore[union-attr]
        child = int(line.split("(pid ")[1].rstrip(")\n"))
        assert pid_is_alive(child)

        launcher.kill()
        launcher.wait(5)

        assert _wait_for(lambda: not pid_is_alive(child), timeout=5)
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_a_server_that_died_is_started_again(running, tmp_path) -> None:
    from apps.core.tests.test_health import _start_throwaway_redis

    socket_path = tmp_path / "redis.sock"
    servers = [_start_throwaway_redis(socket_path)]
    watch = ServiceWatch("redis", lambda: unix_socket_accepts(socket_path), lambda: servers.append(_start_throwaway_redis(socket_path)))
    supervisor, out = _supervisor(services=[watch])
    running[0](supervisor)
    try:
        servers[0].kill()
        servers[0].wait(5)
        socket_path.unlink(missing_ok=True)

        assert _wait_for(lambda: len(servers) == 2 and unix_socket_accepts(socket_path), timeout=10)
        assert "redis is not running; starting it (restart 1)" in out.getvalue()
        assert "redis is back" in out.getvalue()
    finally:
        for server in servers:
            server.kill()
