from canonical.validate import problems

VALID = {"source": "zendesk", "source_id": "17", "updated_at": "2025-03-04T10:11:12Z",
         "full_name": "Ana Lima", "emails": ["ana.lima@example.com"], "phones": ["(415) 555-0134", "+1 415 555 0134 x12"],
         "address": {"city": "Lisbon", "country": "PT"}, "birth_date": "1990-02-28",
         "consent": {"email": {"status": "subscribed", "updated_at": "2025-01-01T00:00:00Z"}}}


def test_a_record_that_keeps_the_contract_has_no_problems():
    assert problems(VALID) == []


def test_a_bad_email_names_the_field_and_masks_the_value():
    found = problems({**VALID, "emails": ["ana.lima(at)example.com"]})
    assert [p.field for p in found] == ["emails.0"]
    assert "not a valid email" in found[0].message
    assert "ana.lima" not in str(found[0])


def test_a_phone_with_words_is_not_a_phone():
    found = problems({**VALID, "phones": ["call after 5pm"]})
    assert [(p.field, "phone number" in p.message) for p in found] == [("phones.0", True)]


def test_missing_required_fields_and_unknown_keys_are_named():
    record = {k: v for k, v in VALID.items() if k != "updated_at"} | {"favourite_colour": "red"}
    text = "; ".join(map(str, problems(record)))
    assert "'updated_at' is a required property" in text
    assert "'favourite_colour' was unexpected" in text


def test_timestamps_need_an_offset_and_dates_must_exist():
    found = problems({**VALID, "updated_at": "2025-03-04T10:11:12", "birth_date": "1990-02-30"})
    assert sorted(p.field for p in found) == ["birth_date", "updated_at"]
