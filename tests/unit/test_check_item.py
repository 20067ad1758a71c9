"""check_item (too deep / oversized items) against the straightforward walk it replaced."""

from __future__ import annotations

import random
from typing import Any

import pytest

from prescientd.polymarket.jsonsafe import MAX_ITEM_DEPTH, TOO_DEEP, ItemError, check_item


def reference(obj: object, max_bytes: int | None, skip_key: str | None = None) -> str | None:
    """The reason the previous walk (one stack entry per value) gave, or None."""
    total = 0
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_ITEM_DEPTH:
            return "too_deep"
        if isinstance(item, dict):
            total += 8 * len(item) + sum(map(len, item))
            values = [v for k, v in item.items() if depth > 1 or k != skip_key]
            stack.extend((v, depth + 1) for v in values)
        elif isinstance(item, list):
            total += 8 * len(item)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            if item == TOO_DEEP:
                return "too_deep"
            total += len(item)
        if max_bytes is not None and total > max_bytes:
            return "oversized"
    return None


def reason(obj: object, max_bytes: int | None, skip_key: str | None = None) -> str | None:
    """check_item's verdict as a reason code."""
    try:
        check_item(obj, max_bytes, skip_key=skip_key)
    except ItemError as exc:
        return exc.reason
    return None


def nested(depth: int, leaf: Any) -> Any:
    """leaf inside depth-1 alternating lists and dicts (depth counts leaf's own level)."""
    value = leaf
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("leaf", [1, "s", None, [], {}, [1], {"a": "b"}])
@pytest.mark.parametrize("depth", [MAX_ITEM_DEPTH - 1, MAX_ITEM_DEPTH, MAX_ITEM_DEPTH + 1])
def test_depth_boundary(depth: int, leaf: Any) -> None:
    """A value at depth 32 passes, at 33 is too deep (containers and scalars alike)."""
    obj = nested(depth, leaf)
    assert reason(obj, None) == reference(obj, None)


def random_value(rng: random.Random, depth: int) -> Any:
    """A random JSON-like value, sometimes deep, sometimes carrying the TOO_DEEP marker."""
    roll = rng.random()
    if depth > 36 or roll < 0.3:
        return rng.choice([1, 2.5, True, None, "x" * rng.randint(0, 40), TOO_DEEP])
    if roll < 0.65:
        return [random_value(rng, depth + rng.randint(1, 3)) for _ in range(rng.randint(0, 4))]
    keys = [f"k{i}" for i in range(rng.randint(0, 4))]
    return {k: random_value(rng, depth + rng.randint(1, 3)) for k in keys}


@pytest.mark.parametrize("seed", range(300))
def test_same_verdict_as_the_previous_walk(seed: int) -> None:
    """Random items: too deep, oversized (several limits) or fine exactly when it said so."""
    rng = random.Random(seed)
    obj = {"markets": random_value(rng, 2), "id": "1", "rest": random_value(rng, 2)}
    for limit in (None, 50, 400, 10_000):
        for skip in (None, "markets"):
            expected = reference(obj, limit, skip)
            got = reason(obj, limit, skip)
            # both walks may meet a deep and an oversized part in a different order
            if expected is not None and got is not None:
                assert got in ("too_deep", "oversized")
            else:
                assert got == expected, (seed, limit, skip)
