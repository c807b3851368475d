import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.exchanges.tests.factories import SymbolFactory
from apps.market.models import Candle
from apps.market.services.ingestion import CsvImportError, import_candles_csv, parse_candle_csv

pytestmark = pytest.mark.django_db
DAY = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d")

GOOD = f"""Timestamp,Open,High,Low,Close,Volume
{DAY}T10:00:00Z,100,101,99.5,100.5,12.5
{DAY}T10:01:00Z,100.5,100.9,100.1,100.2,3
{DAY} 10:02:00,100.2,100.4,100.0,100.3,0
"""


def test_a_good_file_imports_every_row_with_any_header_case() -> None:
    symbol = SymbolFactory()

    assert import_candles_csv(symbol=symbol, timeframe="1m", text=GOOD) == 3
    assert Candle.objects.filter(symbol=symbol, timeframe="1m").count() == 3


def test_epoch_milliseconds_and_a_date_column_are_accepted() -> None:
    start = int(datetime.fromisoformat(f"{DAY}T10:00:00+00:00").timestamp() * 1000)
    candles, errors = parse_candle_csv(["date,open,high,low,close,volume", f"{start},1,2,0.5,1.5,10"], "1m")
    assert errors == []
    assert candles[0].open_time == datetime.fromtimestamp(start / 1000, tz=UTC)


def test_garbage_rows_are_reported_with_their_line_numbers_and_nothing_is_written() -> None:
    symbol = SymbolFactory()
    text = GOOD + f"{DAY}T10:03:00Z,abc,1,1,1,1\n{DAY}T10:04:30Z,1,2,0.5,1,1\n{DAY}T10:05:00Z,5,4,6,5,1\n{DAY}T10:01:00Z,100,101,99,100,1\n"

    with pytest.raises(CsvImportError) as caught:
        import_candles_csv(symbol=symbol, timeframe="1m", text=text)

    lines = {error["line"]: error["message"] for error in caught.value.extra["errors"]}
    assert set(lines) == {5, 6, 7, 8}
    assert "open 'abc' is not a number" in lines[5]
    assert "not the start of a 1m candle" in lines[6]
    assert "high/low" in lines[7]
    assert "duplicate timestamp (also on line 3)" in lines[8]
    assert Candle.objects.filter(symbol=symbol).count() == 0


def test_a_file_without_the_needed_columns_names_them() -> None:
    _, errors = parse_candle_csv(["time,price", "1,2"], "1m")
    assert errors[0].line == 1
    assert "timestamp" in errors[0].message and "volume" in errors[0].message


def test_the_command_prints_each_bad_line_and_exits_non_zero(tmp_path: Path) -> None:
    SymbolFactory()
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\nnot-a-date,1,1,1,1,1\n")

    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_candles", str(path), exchange="SIM", symbol="BTC/USDT", timeframe="1m")


def test_the_command_imports_a_good_file(tmp_path: Path, capsys) -> None:
    SymbolFactory()
    path = tmp_path / "good.csv"
    path.write_text(GOOD)

    call_command("import_candles", str(path), exchange="SIM", symbol="BTC-USDT", timeframe="1m")

    assert "3 candles imported" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exchange", "NOPE", "--symbol", "BTC/USDT", "--timeframe", "1m"], "Unknown exchange 'NOPE'"),
        (["--exchange", "SIM", "--symbol", "DOGE/EUR", "--timeframe", "1m"], "Unknown symbol 'DOGE/EUR' on SIM"),
        (["--exchange", "SIM", "--symbol", "BTC/USDT", "--timeframe", "2m"], "no '2m' candles"),
    ],
)
def test_bad_arguments_are_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str], message: str) -> None:
    SymbolFactory()
    path = tmp_path / "good.csv"
    path.write_text(GOOD)

    with pytest.raises(CommandError, match=message):
        call_command("import_candles", str(path), *args)


def test_a_missing_file_is_a_clean_error_from_the_shell() -> None:
    root = Path(__file__).resolve().parents[4]
    result = subprocess.run(
        [sys.executable, "manage.py", "import_candles", "/no/such.csv", "--exchange", "SIM", "--symbol", "BTC/USDT", "--timeframe", "1m"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "CommandError: no such file: /no/such.csv"
