"""The embedded PostgreSQL and Redis start, serve, refuse a clash and stop cleanly.

Each test runs its own servers on data in a temporary folder, apart from the ones the
suite itself uses.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from apps.core.embedded.process import pid_is_alive

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def local_dir():
    # Not under pytest's temporary root: every pytest session started on the machine makes that
    # folder private again (0700), which would lock the server's user out of its data mid-test.
    parent = ROOT / ".local" / "embedded-tests"
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent)) / "local"
    yield folder
    _embedded("stop", local=folder)
    shutil.rmtree(folder.parent, ignore_errors=True)


def _embedded(*args: str, local: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["TP_LOCAL_DIR"] = str(local)
    return subprocess.run([sys.executable, "-m", "apps.core.embedded", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _password(local: Path, login: str) -> str:
    return (local / "secrets" / f"postgres-{login}.password").read_text().strip()


def _pid(path: Path) -> int:
    return int(path.read_text().splitlines()[0])


def test_services_start_serve_and_stop_leaving_no_process(local_dir: Path) -> None:
    started = _embedded("start", local=local_dir)
    assert started.returncode == 0, started.stderr
    pg_pid = _pid(local_dir / "postgres" / "postmaster.pid")
    redis_pid = _pid(local_dir / "redis" / "redis.pid")

    with psycopg.connect(host=str(local_dir / "run" / "pg"), user="postgres", password=_password(local_dir, "postgres"), dbname="trading_platform") as conn:
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
    client = redis.Redis(unix_socket_path=str(local_dir / "run" / "redis.sock"))
    assert client.ping() is True
    client.close()

    stopped = _embedded("stop", local=local_dir)
    assert stopped.returncode == 0
    assert "redis" in stopped.stdout and "postgres" in stopped.stdout
    assert not pid_is_alive(pg_pid)
    assert not pid_is_alive(redis_pid)
    assert not (local_dir / "run" / "redis.sock").exists()


def test_starting_twice_reuses_the_running_servers_and_keeps_data(local_dir: Path) -> None:
    _embedded("start", local=local_dir)
    pg_pid = _pid(local_dir / "postgres" / "postmaster.pid")
    with psycopg.connect(
        host=str(local_dir / "run" / "pg"), user="postgres", password=_password(local_dir, "postgres"), dbname="trading_platform", autocommit=True
    ) as conn:
        conn.execute("CREATE TABLE kept (value int)")
        conn.execute("INSERT INTO kept VALUES (7)")

    again = _embedded("start", local=local_dir)

    assert again.returncode == 0
    assert _pid(local_dir / "postgres" / "postmaster.pid") == pg_pid
    _embedded("stop", local=local_dir)
    _embedded("start", local=local_dir)
    with psycopg.connect(host=str(local_dir / "run" / "pg"), user="postgres", password=_password(local_dir, "postgres"), dbname="trading_platform") as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == (7,)


def test_a_socket_held_by_another_server_is_a_one_line_error(local_dir: Path) -> None:
    _embedded("start", local=local_dir)
    # Forget our own Redis: its socket is now held by "another" process.
    (local_dir / "redis" / "redis.pid").rename(local_dir / "redis" / "other.pid")
    try:
        clash = _embedded("start", local=local_dir)
    finally:
        os.kill(_pid(local_dir / "redis" / "other.pid"), 15)

    assert clash.returncode == 1
    lines = clash.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "already served by another process" in lines[0]


def test_exec_runs_a_command_with_services_up_and_stops_them_when_it_was_the_only_user(local_dir: Path) -> None:
    result = _embedded("exec", "--", sys.executable, "-c", "print('inside')", local=local_dir)

    assert result.returncode == 0
    assert "inside" in result.stdout
    status = _embedded("status", local=local_dir).stdout
    assert "postgres: stopped" in status
    assert "redis:    stopped" in status


def test_exec_leaves_the_services_running_for_another_launcher(local_dir: Path) -> None:
    _embedded("start", local=local_dir)  # a manual start holds its own lease

    _embedded("exec", "--", sys.executable, "-c", "pass", local=local_dir)

    assert "postgres: running" in _embedded("status", local=local_dir).stdout


def test_the_server_asks_every_login_for_its_password_and_trusts_nothing(local_dir: Path) -> None:
    started = _embedded("start", local=local_dir)
    assert started.returncode == 0, started.stderr
    socket_dir = local_dir / "run" / "pg"

    for login in ("postgres", "tp_owner", "tp_app", "tp_system"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=str(socket_dir), user=login, dbname="trading_platform", password="").close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=str(socket_dir), user=login, dbname="trading_platform", password="wrong").close()
        with psycopg.connect(host=str(socket_dir), user=login, password=_password(local_dir, login), dbname="trading_platform") as conn:
            assert conn.execute("SELECT current_user").fetchone() == (login,)

    rules = [line.split() for line in (local_dir / "postgres" / "pg_hba.conf").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert rules == [["local", "all", "all", "scram-sha-256"]]
    assert socket_dir.stat().st_mode & 0o777 == 0o700
    assert (local_dir / "secrets").stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in (local_dir / "secrets").iterdir())


def test_a_data_folder_made_when_local_logins_were_trusted_is_locked_on_the_next_start(local_dir: Path) -> None:
    assert _embedded("start", local=local_dir).returncode == 0
    assert _embedded("stop", local=local_dir).returncode == 0
    hba = local_dir / "postgres" / "pg_hba.conf"
    hba.write_text("local all all trust\n")

    restarted = _embedded("start", local=local_dir)

    assert restarted.returncode == 0, restarted.stderr
    assert "trust" not in hba.read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host=str(local_dir / "run" / "pg"), user="postgres", dbname="trading_platform", password="").close()
