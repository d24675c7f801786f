from pathlib import Path

import pytest

from canonical import mapping
from canonical.mapping import MappingError
from canonical.validate import problems

USER = {"id": 360000000123, "name": "Lima, Ana", "email": "ana.lima@example.com", "phone": "(415) 555-0134",
        "external_id": None, "role": "end-user", "verified": True, "active": True, "suspended": False,
        "tags": ["vip"], "organization_id": None, "created_at": "2024-01-02T03:04:05Z",
        "updated_at": "2025-03-04T10:11:12Z"}


def test_a_zendesk_user_becomes_a_valid_canonical_record():
    record, found = mapping.load("zendesk").customers.to_canonical(USER)
    assert found == [] and problems(record) == []
    assert record["source"] == "zendesk" and record["source_id"] == "360000000123"
    assert record["full_name"] == "Lima, Ana"  # the source's own value: normalizing is the reconciler's job
    assert record["emails"] == ["ana.lima@example.com"] and record["phones"] == ["(415) 555-0134"]
    assert record["deleted"] is False and record["attributes"]["tags"] == ["vip"]
    assert "external_ids" not in record  # empty means unknown: left out


def test_the_write_back_field_reverses_into_the_source_name():
    assert mapping.load("zendesk").customers.to_source({"external_ids.concord": "cus_1"}) == {"external_id": "cus_1"}


def test_a_field_outside_the_write_back_list_is_refused():
    with pytest.raises(MappingError, match="emails"):
        mapping.load("zendesk").customers.to_source({"emails": ["ana@example.com"]})


def test_an_unknown_transform_is_a_clear_error(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "system: bad\nstreams:\n  users:\n    kind: customer\n    source_id: {from: id}\n"
        "    fields:\n      full_name: {from: name, transform: shout}\n")
    with pytest.raises(MappingError, match="unknown transform 'shout'"):
        mapping.load("bad", tmp_path)


def test_write_back_must_name_a_field_the_mapping_reads(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "system: bad\nstreams:\n  users:\n    kind: customer\n    source_id: {from: id}\n"
        "    fields:\n      full_name: {from: name}\n    write_back: [phones]\n")
    with pytest.raises(MappingError, match="phones"):
        mapping.load("bad", tmp_path)


def test_a_system_needs_exactly_one_customer_stream(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "system: bad\nstreams:\n  tickets:\n    kind: activity\n    activity: ticket\n"
        "    source_id: {from: id}\n    fields:\n      customer_ref: {from: requester_id}\n")
    with pytest.raises(MappingError, match="exactly one stream of kind customer"):
        mapping.load("bad", tmp_path)


def test_a_ticket_becomes_a_valid_activity():
    ticket = {"id": 5000001, "requester_id": 360000000123, "subject": "Where is my order?", "status": "open",
              "created_at": "2025-03-04T10:11:12Z", "updated_at": "2025-03-05T10:11:12Z"}
    record, found = mapping.load("zendesk").stream("tickets").to_canonical(ticket)
    assert found == [] and problems(record, "activity") == []
    assert (record["kind"], record["customer_ref"], record["source_id"]) == ("ticket", "360000000123", "5000001")
