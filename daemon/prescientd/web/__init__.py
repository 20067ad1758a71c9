"""The operator's window (DESIGN.md §8): JSON API, live dashboard, server-sent events, /metrics."""
