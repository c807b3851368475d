"""Local servers speaking the Binance, Bybit and OKX protocols, for gateway tests without the internet."""
