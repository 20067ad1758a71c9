"""The one rule for idempotency keys: sha256 of what makes a ledger entry unique, per strategy.

A key names a decision (enter this market for the Nth time, exit this holding, settle this
position), so a re-run of the same decision after a crash maps to the same key and the UNIQUE
constraint refuses it. Every strategy is its own paper account: a variant's key text is prefixed
with its name, while the default strategy's text is exactly what it was before strategies existed
— a database from that time keeps its keys, and a re-run after the upgrade can never trade twice.
"""

from __future__ import annotations

import hashlib

from prescientd.models import DEFAULT_STRATEGY


def idempotency_key(text: str, strategy: str = DEFAULT_STRATEGY) -> str:
    """Hex sha256 of text, prefixed "NAME|" for every strategy but the default one."""
    scoped = text if strategy == DEFAULT_STRATEGY else f"{strategy}|{text}"
    return hashlib.sha256(scoped.encode("utf-8")).hexdigest()
