"""A whole platform under `make run`'s launcher, in a folder of its own, to kill pieces of under load.

`Platform` starts `python -m apps.core.embedded run` with its own embedded PostgreSQL and Redis
(`TP_LOCAL_DIR`), its own ports and one day of SIM history; it finds the pid of each process
(the supervisor's "started NAME (pid N)" lines, the servers' pid files, a worker's pool
children), kills one with SIGKILL and measures how long until it is back. `OrderLoad` places
paper orders through the API as a client would (resending the same `client_order_id` when the
answer is lost) and remembers every order the API confirmed. `Figures` reads the outcome
straight from the platform's database: confirmed orders lost or duplicated, resting orders
stuck past a trade through their price, bots not running or with a bar missed or doubled,
balances that differ from the ledger of fills.

Used by `tests/faults/test_fault_recovery.py` (a few kills, in the suite) and
`python -m tests.faults.chaos` (`make chaos`, 100 random kills).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_LIMIT_SECONDS = 30.0
KILL_TARGETS = ("web", "worker", "worker-child", "beat", "stream", "postgres", "redis")
OPEN_STATUSES = ("NEW", "OPEN", "PARTIALLY_FILLED")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _local_dir(path: Path) -> Iterator[None]:
    """The embedded paths module reads TP_LOCAL_DIR at each call: point it at `path` for a moment."""
    before = os.environ.get("TP_LOCAL_DIR")
    os.environ["TP_LOCAL_DIR"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TP_LOCAL_DIR", None)
        else:
            os.environ["TP_LOCAL_DIR"] = before


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Recovery:
    target: str
    seconds: float
    ok: bool


class Platform:
    def __init__(self, where: Path, *, history_days: int = 1) -> None:
        self.where = where
        self.web_port = _free_port()
        self.web_http_port = _free_port()  # gunicorn and uvicorn behind the proxy on web_port
        self.ws_port = _free_port()
        self.flower_port = _free_port()
        self.log_path = where / "platform.log"
        self.history_days = history_days
        self.launcher: subprocess.Popen[bytes] | None = None

    # Life ----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "PYTEST"))}
        env |= {
            "TP_LOCAL_DIR": str(self.where),
            "WEB_PORT": str(self.web_port),
            "WEB_HTTP_PORT": str(self.web_http_port),
            "WS_PORT": str(self.ws_port),
            "FLOWER_PORT": str(self.flower_port),
            "SIM_HISTORY_DAYS": str(self.history_days),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        return env

    def start(self) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the launcher writes to it until stop
        self.launcher = subprocess.Popen(
            [sys.executable, "-m", "apps.core.embedded", "run"], cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def stop(self) -> None:
        """Ctrl-C, as a person would; then make sure nothing of it is left."""
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGINT)
            try:
                self.launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.launcher.pid, signal.SIGKILL)
                self.launcher.wait(timeout=10)
        for pid in self.supervised_pids().values():
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-m", "apps.core.embedded", "stop"], cwd=ROOT, env=self.env(), capture_output=True, timeout=60, check=False)

    def remove(self) -> None:
        shutil.rmtree(self.where, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # Looking ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def health(self, timeout: float = 3.0) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url("/health/"), timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read())
            except ValueError:
                return error.code, {}
        except (OSError, ValueError):
            return 0, {}

    def healthy(self) -> bool:
        return self.health()[0] == 200

    def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.launcher is not None and self.launcher.poll() is not None:
                raise RuntimeError(f"the launcher exited ({self.launcher.returncode}); see {self.log_path}")
            if self.healthy():
                return True
            time.sleep(0.5)
        return False

    def supervised_pids(self) -> dict[str, int]:
        """The newest pid the supervisor started for each process."""
        pids: dict[str, int] = {}
        for name, pid in re.findall(r"supervisor \| started (\S+) \(pid (\d+)\)", self.log()):
            pids[name] = int(pid)
        return pids

    def _server_pid(self, name: str) -> int | None:
        pid_file = self.where / ("postgres/postmaster.pid" if name == "postgres" else "redis/redis.pid")
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def pid(self, target: str) -> int | None:
        if target in ("postgres", "redis"):
            return self._server_pid(target)
        if target == "worker-child":
            worker = self.supervised_pids().get("worker")
            children = sorted(_children(worker)) if worker else []
            return children[0] if children else None
        pid = self.supervised_pids().get(target)
        return pid if pid is not None and _pid_alive(pid) else None

    def worker_children(self) -> int:
        worker = self.supervised_pids().get("worker")
        return len(_children(worker)) if worker else 0

    def stream_heard_since(self, moment: float) -> bool:
        """A heartbeat with a message received after `moment` (epoch seconds)."""
        status, body = self.health()
        venues = body.get("components", {}).get("stream", {}).get("venues", {})
        sim = venues.get("SIM", {})
        age = sim.get("last_message_seconds_ago")
        return status == 200 and age is not None and time.time() - age > moment

    # Killing ---------------------------------------------------------------------------

    def kill(self, target: str, *, limit: float = RECOVERY_LIMIT_SECONDS) -> Recovery:
        """SIGKILL `target`, then wait until it is back (a new process, the platform healthy)."""
        victim = None
        deadline = time.monotonic() + 20
        while victim is None and time.monotonic() < deadline:
            victim = self.pid(target)
            if victim is None:
                time.sleep(0.2)
        if victim is None:
            raise RuntimeError(f"no {target} process to kill")
        killed_at, wall = time.monotonic(), time.time()
        os.kill(victim, signal.SIGKILL)
        back: Callable[[], bool]
        if target == "worker-child":
            back = lambda: not _pid_alive(victim) and self.worker_children() >= 2 and self.healthy()  # noqa: E731
        elif target == "stream":
            back = lambda: self.pid("stream") not in (None, victim) and self.stream_heard_since(wall)  # noqa: E731
        elif target in ("postgres", "redis"):
            back = lambda: self.pid(target) not in (None, victim) and self.healthy()  # noqa: E731
        else:
            back = lambda: self.pid(target) not in (None, victim) and self.healthy()  # noqa: E731
        give_up = killed_at + max(limit, 60.0)
        time.sleep(0.3)
        while time.monotonic() < give_up:
            if back():
                seconds = time.monotonic() - killed_at
                return Recovery(target, seconds, seconds <= limit)
            time.sleep(0.25)
        return Recovery(target, time.monotonic() - killed_at, False)

    # The database ----------------------------------------------------------------------

    def connect(self) -> Any:
        import psycopg

        sys.path.insert(0, str(ROOT))
        from apps.core.embedded import paths

        with _local_dir(self.where):
            login = paths.embedded_login("owner")
            return psycopg.connect(
                host=str(paths.postgres_socket_dir()),
                port=paths.EMBEDDED_POSTGRES_PORT,
                user=login,
                password=paths.postgres_password(login),
                dbname=paths.EMBEDDED_DATABASE_NAME,
                autocommit=True,
                connect_timeout=5,
            )


# A client placing paper orders -------------------------------------------------------------


class Api:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.token = ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> tuple[int, Any]:
        """(status, JSON body); status 0 when no answer came (refused, reset, timed out)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.platform.url(f"/api/v1/{path}"), data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"null")
            except ValueError:
                return error.code, None
        except (OSError, ValueError):
            return 0, None

    def sign_in(self, email: str = "demo@example.com", password: str = "demo-password") -> None:
        status, body = self.call("POST", "auth/token/", {"email": email, "password": password})
        if status != 200:
            raise RuntimeError(f"signing in failed: {status} {body}")
        self.token = body["access"]

    def paper_account(self) -> str:
        status, body = self.call("GET", "accounts/")
        rows = body["results"] if isinstance(body, dict) else body
        return str(next(row["id"] for row in rows if row["mode"] == "paper" and row["exchange"] == "SIM"))

    def last_price(self, symbol: str = "BTC/USDT") -> Decimal | None:
        status, body = self.call("GET", "tickers/?exchange=SIM")
        if status != 200:
            return None
        for row in body.get("tickers", []) if isinstance(body, dict) else []:
            if row.get("symbol") == symbol and row.get("last"):
                return Decimal(str(row["last"]))
        return None


@dataclass
class OrderLoad:
    """Paper orders at a steady rate: market buys and sells and resting limit buys, each resent with its own
    `client_order_id` until the API gives an answer (a lost answer is not a lost order)."""

    api: Api
    account: str
    per_second: float = 3.0
    confirmed: dict[str, str] = field(default_factory=dict)  # client_order_id -> order id
    refused: int = 0
    unanswered: int = 0  # gave up resending (the platform stayed away)
    resends: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="order-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _order(self, n: int, price: Decimal | None) -> dict[str, Any]:
        kind = n % 3
        body: dict[str, Any] = {"account": self.account, "symbol": "BTC/USDT", "client_order_id": f"fault-{os.getpid()}-{n}", "quote_amount": "12"}
        if kind == 0 or price is None:
            body |= {"side": "BUY", "order_type": "MARKET"}
        elif kind == 1:
            body |= {"side": "BUY", "order_type": "LIMIT", "price": str((price * Decimal("0.9997")).quantize(Decimal("0.01")))}
        else:
            body |= {"side": "SELL", "order_type": "MARKET", "quote_amount": "10"}
        return body

    def _place(self, body: dict[str, Any]) -> None:
        deadline = time.monotonic() + 90
        attempt = 0
        while not self._stop.is_set() or attempt == 0:
            status, answer = self.api.call("POST", "orders/", body)
            if status in (200, 201):
                self.confirmed[body["client_order_id"]] = str(answer["id"])
                return
            if status == 401:
                self.api.sign_in()
            elif 400 <= status < 500 and status != 429:
                self.refused += 1
                return
            attempt += 1
            self.resends += 1
            if time.monotonic() > deadline:
                break
            time.sleep(min(0.2 * 2**attempt, 3.0) * random.uniform(0.5, 1.0))
        self.unanswered += 1

    def _run(self) -> None:
        n, price = 0, None
        while not self._stop.is_set():
            if n % 15 == 0:
                try:
                    price = self.api.last_price() or price
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    pass
            self._place(self._order(n, price))
            n += 1
            self._stop.wait(1 / self.per_second)


# The outcome ------------------------------------------------------------------------------


@dataclass
class Figures:
    kills: int = 0
    confirmed: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    bots: int = 0
    bots_not_running: list[str] = field(default_factory=list)
    bars_processed: int = 0
    bars_missed: int = 0
    bars_doubled: int = 0
    refused: int = 0
    unanswered: int = 0
    resends: int = 0
    ledger_mismatches: list[str] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)

    def lines(self) -> list[str]:
        slowest = max((r.seconds for r in self.recoveries), default=0.0)
        by_target: dict[str, list[float]] = {}
        for recovery in self.recoveries:
            by_target.setdefault(recovery.target, []).append(recovery.seconds)
        return [
            f"kills: {self.kills}; orders confirmed: {self.confirmed}; lost: {self.lost}; duplicated: {self.duplicated}; stuck open past a trade through: {self.stuck}",
            f"requests refused (4xx): {self.refused}; resent after no answer: {self.resends}; never answered: {self.unanswered}",
            f"bots: {self.bots}, not running: {len(self.bots_not_running)}; bars processed: {self.bars_processed}, missed: {self.bars_missed}, doubled: {self.bars_doubled}; balances off the ledger: {len(self.ledger_mismatches)}",
            "recovery (s): " + ", ".join(f"{t} max {max(v):.1f} (n={len(v)})" for t, v in sorted(by_target.items())) + f"; slowest {slowest:.1f}",
        ]


def read_figures(platform: Platform, load: OrderLoad, bot_ids: list[str], *, settled_before: float) -> Figures:
    """What the database says after the faults. `settled_before`: epoch seconds; a trade through an
    order's price earlier than this should have filled it."""
    figures = Figures(confirmed=len(load.confirmed), refused=load.refused, unanswered=load.unanswered, resends=load.resends)
    with platform.connect() as connection, connection.cursor() as cursor:
        ids = list(load.confirmed.values())
        cursor.execute("SELECT count(*) FROM orders_order WHERE id = ANY(%s::uuid[])", [ids])
        figures.lost = len(ids) - cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT client_order_id FROM orders_order WHERE client_order_id = ANY(%s) GROUP BY account_id, client_order_id HAVING count(*) > 1) d",
            [list(load.confirmed)],
        )
        figures.duplicated = cursor.fetchone()[0]
        # A resting limit whose price a stored minute traded through (entirely after it was placed,
        # and closed before `settled_before`) must not be open any more.
        cursor.execute(
            """
            SELECT count(*) FROM orders_order o
            WHERE o.status = ANY(%s) AND o.order_type = 'LIMIT' AND o.client_order_id LIKE 'fault-%%'
              AND EXISTS (
                SELECT 1 FROM market_candle c
                WHERE c.symbol_id = o.symbol_id AND c.timeframe = '1m'
                  AND c.open_time > o.created_at AND c.open_time + interval '1 minute' < to_timestamp(%s)
                  AND ((o.side = 'BUY' AND c.low < o.price) OR (o.side = 'SELL' AND c.high > o.price)))
            """,
            [list(OPEN_STATUSES), settled_before],
        )
        figures.stuck = cursor.fetchone()[0]
        cursor.execute("SELECT id::text, name, status, last_processed_open_time, started_at FROM bots_bot WHERE id = ANY(%s::uuid[])", [bot_ids])
        bots = cursor.fetchall()
        figures.bots = len(bots)
        for bot_id, name, status, last_processed, _started in bots:
            if status != "RUNNING":
                figures.bots_not_running.append(f"{name}: {status}")
            cursor.execute("SELECT taken_at FROM bots_botperformancesnapshot WHERE bot_id = %s ORDER BY taken_at", [bot_id])
            taken = [row[0] for row in cursor.fetchall()]
            figures.bars_processed += len(taken)
            if taken:
                minutes = int((taken[-1] - taken[0]).total_seconds() // 60) + 1
                figures.bars_missed += minutes - len(set(taken))
                figures.bars_doubled += len(taken) - len(set(taken))
            cursor.execute(
                "SELECT max(open_time) FROM market_candle c JOIN bots_bot b ON b.symbol_id = c.symbol_id WHERE b.id = %s AND c.timeframe = '1m' AND c.open_time < now() - interval '20 seconds'",
                [bot_id],
            )
            newest = cursor.fetchone()[0]
            if newest is not None and last_processed is not None and last_processed < newest:
                figures.bars_missed += int((newest - last_processed).total_seconds() // 60)
        figures.ledger_mismatches = _ledger_mismatches(cursor, load.account)
    return figures


def _ledger_mismatches(cursor: Any, account: str, initial: dict[str, Decimal] | None = None) -> list[str]:
    """Each asset's balance (free + locked) against the starting amount plus every fill's flows."""
    expected: dict[str, Decimal] = dict(initial or {"USDT": Decimal(10000)})
    cursor.execute(
        """
        SELECT f.side, f.price, f.quantity, f.fee, f.fee_currency, s.base, s.quote
        FROM orders_fill f JOIN exchanges_symbol s ON s.id = f.symbol_id WHERE f.account_id = %s
        """,
        [account],
    )
    for side, price, quantity, fee, fee_currency, base, quote in cursor.fetchall():
        sign = Decimal(1) if side == "BUY" else Decimal(-1)
        expected[base] = expected.get(base, Decimal(0)) + sign * quantity
        expected[quote] = expected.get(quote, Decimal(0)) - sign * price * quantity
        expected[fee_currency] = expected.get(fee_currency, Decimal(0)) - fee
    cursor.execute("SELECT asset, free + locked FROM portfolio_balance WHERE account_id = %s", [account])
    actual = dict(cursor.fetchall())
    mismatches = []
    for asset in sorted(set(expected) | set(actual)):
        want, have = expected.get(asset, Decimal(0)), actual.get(asset, Decimal(0))
        if want != have:
            mismatches.append(f"{asset}: balance {have} != ledger {want}")
    return mismatches


def start_bots(api: Api, account: str, count: int) -> list[str]:
    """Paper bots buying a little at every 1m bar (DCA, periodic), each on the demo account."""
    ids = []
    for n in range(count):
        params = {"trigger": "periodic", "interval": 1, "order_quote": 6.0, "max_safety_orders": 0, "take_profit_percent": 50.0}
        status, body = api.call(
            "POST", "bots/", {"name": f"fault bot {n}", "account": account, "symbol": "ETH/USDT", "timeframe": "1m", "strategy": "dca", "params": params}
        )
        if status != 201:
            raise RuntimeError(f"creating a bot failed: {status} {body}")
        bot_id = str(body["id"])
        status, body = api.call("POST", f"bots/{bot_id}/start/")
        if status not in (200, 201):
            raise RuntimeError(f"starting a bot failed: {status} {body}")
        ids.append(bot_id)
    return ids
