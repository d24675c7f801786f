from canonical.pii import mask, mask_email, mask_phone


def test_emails_keep_only_their_first_letters():
    assert mask_email("ana.lima@example.com") == "an***@e***"


def test_phones_keep_only_their_last_two_digits():
    masked = mask_phone("+1 (415) 555-0134")
    assert masked.endswith("34") and "415" not in masked and "555" not in masked


def test_mask_picks_the_right_rule():
    assert "@" in mask("x.y@z.org") and "x.y" not in mask("x.y@z.org")
    assert mask("4155550134").endswith("34") and "415" not in mask("4155550134")
    assert mask("Brzęczyszczykiewicz") == "Br***"


def test_paths_keep_ids_but_mask_emails_and_phones():
    from canonical.pii import mask_path

    assert mask_path("/api/v2/users/360000000123.json") == "/api/v2/users/360000000123.json"
    masked = mask_path("/v1/Services/IS1/Maps/MP1/Items/%2B14155550134")
    assert masked.startswith("/v1/Services/IS1/Maps/MP1/Items/") and "415555" not in masked
    assert "ana.lima" not in mask_path("/communication-preferences/v3/status/email/ana.lima%40example.com")


def test_record_ids_that_are_phones_or_emails_are_masked_in_logs():
    from canonical.pii import mask_id

    assert mask_id("360000000123") == "360000000123"
    assert "415555" not in mask_id("+14155550134") and mask_id("+14155550134").endswith("34")
    assert "ana" not in mask_id("ana@example.com")
