"""RecentRequests: which copy of a request td_exec's command endpoint acts on (td_exec.commands)."""

from __future__ import annotations

from td_exec.commands import RecentRequests


def test_the_first_copy_is_acted_on_and_later_copies_are_not() -> None:
    recent = RecentRequests(window_s=10)
    assert recent.first_sight("_INBOX.ws_edge.a.1", b'{"x":1}', now=0.0)
    assert not recent.first_sight("_INBOX.ws_edge.a.1", b'{"x":1}', now=0.1)  # queue copy, then direct copy
    assert not recent.first_sight("_INBOX.ws_edge.a.1", b'{"x":1}', now=2.0)  # the forwarded copy, late


def test_a_new_inbox_or_a_new_body_is_a_new_request() -> None:
    recent = RecentRequests(window_s=10)
    assert recent.first_sight("_INBOX.ws_edge.a.1", b'{"x":1}', now=0.0)
    assert recent.first_sight("_INBOX.ws_edge.a.2", b'{"x":1}', now=0.1)  # a resend through request()
    assert recent.first_sight("_INBOX.ws_edge.a.1", b'{"x":2}', now=0.2)  # one reply subject, another command


def test_a_request_is_forgotten_after_the_window_and_beyond_the_limit() -> None:
    recent = RecentRequests(window_s=10, limit=3)
    assert recent.first_sight("r1", b"a", now=0.0)
    assert recent.first_sight("r1", b"a", now=10.5)  # the same subject and body, later than any copy comes
    for i in range(3):
        assert recent.first_sight(f"s{i}", b"b", now=11.0)
    assert recent.first_sight("r1", b"a", now=11.0)  # pushed out by newer requests (the limit)
