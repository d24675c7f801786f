from datetime import timedelta

from adapters.watermark import Watermark


def test_records_tied_on_the_cursor_second_are_delivered_once_each():
    first = Watermark(None, timedelta(minutes=2))
    assert first.query_from() is None
    assert [first.admit(i, "2025-01-01T00:00:00Z") for i in ("a", "b")] == [True, True]
    again = Watermark(first.cursor(), timedelta(minutes=2))
    assert again.query_from().isoformat() == "2024-12-31T23:58:00+00:00"  # re-asks inside the lookback
    # the vendor sends a and b again (>=), plus c tied on the same second that the first read missed
    assert [again.admit(i, "2025-01-01T00:00:00Z") for i in ("a", "b", "c")] == [False, False, True]


def test_a_newer_version_of_a_seen_record_is_delivered():
    mark = Watermark(None, timedelta(minutes=2))
    mark.admit("a", "2025-01-01T00:00:00Z")
    assert mark.admit("a", "2025-01-01T00:00:05Z") is True


def test_the_cursor_forgets_what_fell_out_of_the_lookback():
    mark = Watermark(None, timedelta(minutes=2))
    mark.admit("old", "2025-01-01T00:00:00Z")
    mark.admit("new", "2025-01-01T01:00:00Z")
    assert set(mark.cursor()["seen"]) == {"new"} and mark.cursor()["high"] == "2025-01-01T01:00:00.000Z"
