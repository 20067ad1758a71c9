"""Credential redaction for anything printed or stored: log lines, job-run errors, status.

A configured URL may carry `user:password@` or a token in its query string (a proxy, a paid
mirror of the API). Such secrets must never reach a log line, the job-runs table or `status`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host -> scheme://***@host (any userinfo, with or without a password)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")
# ?token=... / &api_key=... -> the value masked: names that end like a secret (not `token_id`)
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;][\w.-]*?(?:token|key|secret|password|passwd|pwd|auth|sig|signature|"
    r"credentials?|session))=(?P<value>[^&#\s'\"<>]*)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """text with URL credentials and secret-looking query values replaced by ***."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['name']}={MASK}", text)


def redact_url(url: str) -> str:
    """A URL safe to print: no userinfo, secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    return redact_text(urlunsplit(parts._replace(netloc=netloc)))


def host_of(url: str) -> str:
    """host[:port] of a URL, without any userinfo (the name used in log lines)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return redact_text(url)
    return netloc.rpartition("@")[2] or redact_text(url)
