"""prescientd: a long-running asyncio daemon that paper-trades Polymarket prediction markets."""

__version__ = "0.1.0"
