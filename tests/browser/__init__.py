"""Browser tests of the dashboard (headless Chromium over the DevTools protocol)."""
