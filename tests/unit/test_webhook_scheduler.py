"""Which due callbacks go out next: turns between API keys, and no key past its share of senders."""

from webhooks.scheduler import Due, pick_fair


def due(*pairs: str) -> list[Due]:
    return [Due(job_id=p, tenant=p[0]) for p in pairs]


def ids(items: list[Due]) -> list[str]:
    return [d.job_id for d in items]


def test_keys_take_turns_in_the_order_of_their_longest_waiting_callback() -> None:
    backlog = due("a1", "a2", "a3", "a4", "b1", "c1", "b2")

    assert ids(pick_fair(backlog, busy={}, free=5, per_key=8)) == ["a1", "b1", "c1", "a2", "b2"]


def test_a_key_never_holds_more_than_its_share_even_when_senders_are_free() -> None:
    backlog = due("a1", "a2", "a3", "a4", "a5", "b1")

    assert ids(pick_fair(backlog, busy={}, free=8, per_key=2)) == ["a1", "b1", "a2"]


def test_senders_already_busy_count_against_the_share() -> None:
    backlog = due("a1", "a2", "b1", "b2")

    assert ids(pick_fair(backlog, busy={"a": 2, "b": 1}, free=4, per_key=2)) == ["b1"]


def test_nothing_is_picked_without_a_free_sender() -> None:
    assert pick_fair(due("a1", "b1"), busy={}, free=0, per_key=2) == []
