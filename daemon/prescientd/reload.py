"""What a reload (SIGHUP) may change: the diff between two configs, the refusals, the merge.

A reload re-reads the whole file. Keys that need a restart keep their running values; a file that
looks truncated or half-saved is refused rather than resetting the rest to defaults. The
`[strategies.NAME]` tables are optional by design: a file without one of them retires that
variant (its positions are still marked and settled), so dropping one is never "a missing
section".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from prescientd.config import Config, ConfigError

# Keys whose new value only takes effect after a restart; a SIGHUP reports them as ignored.
RESTART_ONLY_KEYS: tuple[str, ...] = (
    "timezone",
    "paths.",
    "polymarket.",
    "paper.starting_balance_usd",
    "http.",
)
# A reload that changes more keys than this, or drops whole sections, must come from a complete
# file (every section present): a truncated or half-saved file would reset the rest to defaults.
RELOAD_MAX_PARTIAL_CHANGES = 8
VARIANTS = "strategies"  # the top-level table of the optional variants
ADDED = "added"
RETIRED = "retired"
RETIRED_FROM = "active"


def flatten(config: Config) -> dict[str, Any]:
    """Dotted key -> value for every leaf of the config (used to log reload diffs).

    The variants are walked too: `strategies.NAME.threshold`.
    """
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(f"{prefix}{name}.", getattr(value, name))
        elif isinstance(value, Mapping) and prefix == f"{VARIANTS}.":
            for name in sorted(value):
                walk(f"{prefix}{name}.", value[name])
        else:
            out[prefix.rstrip(".")] = value

    walk("", config)
    return out


def is_restart_only(key: str) -> bool:
    """True when key can only change with a restart."""
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESTART_ONLY_KEYS)


def diff_configs(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between old and new, with (old, new) values.

    A variant that appears is one entry `strategies.NAME` = (None, "added"); one that disappears
    is `strategies.NAME` = (NAME's keys, "retired"), rather than every key of it.
    """
    before, after = flatten(old), flatten(new)
    changes = {
        key: (before.get(key), after.get(key))
        for key in [*before, *(k for k in after if k not in before)]
        if before.get(key) != after.get(key)
    }
    for name in set(old.strategies) ^ set(new.strategies):
        prefix = f"{VARIANTS}.{name}."
        changes = {k: v for k, v in changes.items() if not k.startswith(prefix)}
        if name in new.strategies:
            changes[f"{VARIANTS}.{name}"] = (None, ADDED)
        else:
            changes[f"{VARIANTS}.{name}"] = (RETIRED_FROM, RETIRED)
    return changes


def _change_count(changes: Mapping[str, Any]) -> int:
    """Changed keys, a variant counting once however many of its keys changed."""
    variants = {k.split(".")[1] for k in changes if k.startswith(f"{VARIANTS}.")}
    return sum(1 for k in changes if not k.startswith(f"{VARIANTS}.")) + len(variants)


def reload_refusal(old: Config, new: Config) -> ConfigError | None:
    """Why a valid new file must still not be applied on reload, or None.

    An empty (comment-only) file is refused: applied, it would reset every setting to its
    default. A file that changes more than RELOAD_MAX_PARTIAL_CHANGES keys (a variant counts as
    one) or drops sections the old file had is applied only when it is complete (every section
    present). `[strategies.*]` is neither required nor a dropped section: leaving a variant out
    retires it. Start-up may still use an empty file: that is documented to mean "all defaults".
    """
    if not new.file_keys:
        return ConfigError(
            "(file)", "the file is empty or only comments; refusing to reset every key to default"
        )
    complete = frozenset(Config.model_fields) - {VARIANTS}
    missing = sorted(complete - new.file_keys)
    if not missing:
        return None
    removed = sorted(old.file_keys - new.file_keys - {VARIANTS})
    if removed:
        return ConfigError(
            "(file)",
            f"the file leaves out {', '.join(removed)}, which the running config's file set;"
            " only a complete config (every section) may drop sections",
        )
    changed = _change_count(diff_configs(old, new))
    if changed > RELOAD_MAX_PARTIAL_CHANGES:
        return ConfigError(
            "(file)",
            f"the file changes {changed} keys (more than {RELOAD_MAX_PARTIAL_CHANGES}) but is"
            f" not a complete config (missing {', '.join(missing)}); it looks truncated",
        )
    return None


@dataclass(frozen=True, slots=True)
class Reload:
    """What a reload does: the config to run with and the diff, as {dotted key: (old, new)}."""

    config: Config  # the new config, restart-only keys kept at their running values
    applied: dict[str, tuple[Any, Any]]  # changes that take effect now
    ignored: dict[str, tuple[Any, Any]]  # changes to restart-only keys, which need a restart

    def _variants(self, change: str) -> list[str]:
        return sorted(
            key.split(".")[1]
            for key, (_, new) in self.applied.items()
            if key.startswith(f"{VARIANTS}.") and key.count(".") == 1 and new == change
        )

    @property
    def added(self) -> list[str]:
        """Variants this reload adds (they trade from the next poll)."""
        return self._variants(ADDED)

    @property
    def retired(self) -> list[str]:
        """Variants this reload retires (marked and settled, no new trades)."""
        return self._variants(RETIRED)


def _value_at(model: BaseModel, path: list[str]) -> Any:
    value: Any = model
    for name in path:
        value = getattr(value, name)
    return value


def _with_value_at(model: BaseModel, path: list[str], value: Any) -> Any:
    """model with the value at path replaced (a copy; frozen models are never changed)."""
    head, *rest = path
    if rest:
        value = _with_value_at(getattr(model, head), rest, value)
    return model.model_copy(update={head: value})


def merge_reload(old: Config, new: Config) -> Reload:
    """Apply new over old, except every RESTART_ONLY_KEYS entry, which keeps its running value."""
    changes = diff_configs(old, new)
    merged: Config = new
    for key in RESTART_ONLY_KEYS:
        path = key.rstrip(".").split(".")
        merged = _with_value_at(merged, path, _value_at(old, path))
    return Reload(
        config=merged,
        applied={k: v for k, v in sorted(changes.items()) if not is_restart_only(k)},
        ignored={k: v for k, v in sorted(changes.items()) if is_restart_only(k)},
    )
