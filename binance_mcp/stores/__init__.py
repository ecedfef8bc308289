"""Where binance-mcp keeps shared state: one database base, the stores on it, the account lock."""
