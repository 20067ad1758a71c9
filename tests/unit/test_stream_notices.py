"""Change notices of the market stream: coalesced per token, with the first receipt time kept."""

from __future__ import annotations

from prescientd.polymarket.stream_state import ChangeNotices, StreamChanges


def test_a_burst_on_a_token_is_one_notice_timed_at_its_first_change() -> None:
    """Repeated changes of a token coalesce; the receipt time kept is the earliest (latency is
    measured from the first change a trade could have acted on)."""
    notices = ChangeNotices()
    notices.add_tokens(["a", "b"], 10.0)
    notices.add_tokens(["a", "c"], 12.5)
    assert notices.ready.is_set()
    changes = notices.take()
    assert changes.tokens == {"a", "b", "c"}
    assert dict(changes.received_at) == {"a": 10.0, "b": 10.0, "c": 12.5}
    assert not notices.ready.is_set()
    assert notices.take() == StreamChanges(received_at={})


def test_a_taken_batch_is_not_changed_by_later_notices() -> None:
    """The receipt times handed out are a snapshot: a later change starts a new batch."""
    notices = ChangeNotices()
    notices.add_tokens(["a"], 1.0)
    first = notices.take()
    notices.add_tokens(["a"], 2.0)
    assert dict(first.received_at) == {"a": 1.0}
    assert dict(notices.take().received_at) == {"a": 2.0}


def test_unwatched_tokens_lose_their_pending_notices() -> None:
    """A token dropped from the watch set is not evaluated, and its time is forgotten."""
    notices = ChangeNotices()
    notices.add_tokens(["a", "b"], 1.0)
    notices.discard(["a"])
    changes = notices.take()
    assert changes.tokens == {"b"} and dict(changes.received_at) == {"b": 1.0}
