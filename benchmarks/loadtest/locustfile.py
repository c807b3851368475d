"""Simulated traders and bots against a running platform (`make loadtest`, not part of `make test`).

Traders sign in on the page, keep the live WebSocket open as every page does, browse the
dashboard, market, orders and positions pages, place and cancel resting paper orders, and now
and then start a small backtest. Bots place market orders with an API key, as a bot would.
Credentials come from `manage.py loadtest_users` (LOADTEST_USERS names the file).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time

import gevent
import websocket
from locust import HttpUser, between, events, task

USERS_FILE = os.environ.get("LOADTEST_USERS", ".local/loadtest/users.json")
_people = json.loads(open(USERS_FILE).read())  # noqa: SIM115 - read once at start
_traders = itertools.cycle(_people["traders"])
_bots = itertools.cycle(_people["bots"])
PAGES = {"dashboard": "/", "market": "/market/SIM/", "symbol": "/market/SIM/btc-usdt/", "orders": "/orders/", "positions": "/positions/"}


def _websocket_url(host: str) -> str:
    return host.replace("https://", "wss://").replace("http://", "ws://") + "/ws/events/"


class Trader(HttpUser):
    weight = 9
    wait_time = between(1, 3)

    def on_start(self) -> None:
        person = next(_traders)
        self.account = person["account"]
        self.client.get("/accounts/login/", name="sign-in page")
        token = self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/accounts/login/",
            data={"email": person["email"], "password": person["password"], "csrfmiddlewaretoken": token},
            headers={"Referer": self.host + "/accounts/login/"},
            name="sign in",
        )
        self.socket_greenlet = gevent.spawn(self._listen)

    def on_stop(self) -> None:
        self.socket_greenlet.kill(block=False)

    def _listen(self) -> None:
        """The socket every page keeps open: connected once, read until the user stops."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.client.cookies.items())
        started = time.perf_counter()
        try:
            connection = websocket.create_connection(_websocket_url(self.host), cookie=cookie, origin=self.host, timeout=30)
        except Exception as error:  # noqa: BLE001
            events.request.fire(request_type="WS", name="connect", response_time=(time.perf_counter() - started) * 1000, response_length=0, exception=error)
            return
        events.request.fire(request_type="WS", name="connect", response_time=(time.perf_counter() - started) * 1000, response_length=0, exception=None)
        while True:
            try:
                message = connection.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:  # noqa: BLE001 - the user stopped or the server closed: nothing more to read
                return
            events.request.fire(request_type="WS", name="push", response_time=0, response_length=len(message or ""), exception=None)

    def _api_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host + "/orders/"}

    @task(6)
    def browse(self) -> None:
        name, path = random.choice(list(PAGES.items()))
        self.client.get(path, name=f"page {name}")

    @task(3)
    def place_and_cancel_a_resting_order(self) -> None:
        body = {
            "account": self.account,
            "symbol": "BTC/USDT",
            "side": "BUY",
            "order_type": "LIMIT",
            "quantity": "0.01",
            "price": "1000",
        }  # 10 USDT, above the minimum order value, far below the market
        with self.client.post("/api/v1/orders/", json=body, headers=self._api_headers(), name="api place order", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            order_id = response.json()["id"]
        self.client.post(f"/api/v1/orders/{order_id}/cancel/", headers=self._api_headers(), name="api cancel order")

    @task(1)
    def run_a_small_backtest(self) -> None:
        body = {"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1m", "params": {"mode": "long_only"}}
        self.client.post("/api/v1/backtests/", json=body, headers=self._api_headers(), name="api start backtest")


class Bot(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        person = next(_bots)
        self.account = person["account"]
        self.headers = {"Authorization": f"Api-Key {person['api_key']}"}
        self.side = itertools.cycle(["BUY", "SELL"])

    @task(4)
    def place_a_market_order(self) -> None:
        body = {
            "account": self.account,
            "symbol": "BTC/USDT",
            "side": next(self.side),
            "order_type": "MARKET",
            "quantity": "0.001",
        }  # about 60 USDT at SIM prices
        self.client.post("/api/v1/orders/", json=body, headers=self.headers, name="bot market order")

    @task(1)
    def read_positions(self) -> None:
        self.client.get("/api/v1/positions/", headers=self.headers, name="bot positions")
