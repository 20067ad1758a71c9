"""polymarket package."""
