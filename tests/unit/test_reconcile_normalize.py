from canonical.reconcile import nicknames, normalize


def test_phones_become_e164_without_extensions():
    for written in ("(415) 555-2671", "1-415-555-2671", "415.555.2671", "+1 415 555 2671", "4155552671 ext. 12"):
        assert normalize.phone(written) == "+14155552671"
    assert normalize.phone("+44 (0)20 7946 0958") == normalize.phone("0044 20 7946 0958") == "+442079460958"
    assert normalize.phone("+33 6 12 34 56 78") == "+33612345678"
    for junk in ("call after 5pm", "n/a - use email", "", None, "123"):
        assert normalize.phone(junk) is None


def test_emails_fold_case_width_and_padding_but_stay_addresses():
    assert normalize.email("  Ana.Lima@Example.COM\t") == "ana.lima@example.com"
    assert normalize.email("ａｎａ@example.com") == "ana@example.com"
    assert normalize.email("ana(at)example.com") is None


def test_names_parse_family_first_and_fold_accents():
    assert normalize.names({"full_name": "Lima, Ana"}) == ("ana", "lima")
    assert normalize.names({"full_name": "Ana Lima"}) == ("ana", "lima")
    assert normalize.names({"given_name": "Zoë", "family_name": "Brzęczyszczykiewicz"}) == ("zoe", "brzeczyszczykiewicz")
    assert normalize.names({"full_name": "Łukasz  Müller-Straße"}) == ("lukasz", "muller-strasse")
    assert normalize.names({"full_name": "Fatma Yılmaz"}) == ("fatma", "yilmaz")  # Unicode keeps ı whole


def test_nicknames_share_a_root_and_strangers_do_not():
    assert nicknames.same_person_name("bill", "william")
    assert nicknames.same_person_name("alex", "alexandra") and nicknames.same_person_name("alex", "alexander")
    assert not nicknames.same_person_name("alexander", "alexandra")
    assert not nicknames.same_person_name("bill", "robert")


def test_addresses_postcodes_and_dates():
    assert normalize.street_line("12 Main St.") == normalize.street_line("12 MAIN STREET") == "12 main street"
    assert normalize.street_line("9 Oak Ave, Apt 4B") == "9 oak avenue unit 4b"
    assert normalize.street_line("# 4B") == normalize.street_line("Apt #4B") == normalize.street_line("Unit 4B") == "unit 4b"
    assert normalize.street_line("7 Elm Terr") == normalize.street_line("7 Elm Ter.") == "7 elm terrace"
    assert normalize.house_number("12b Main Street") == "12"
    assert normalize.postcode("94107-1234", "US") == "94107" and normalize.postcode("sw1a 1aa", "GB") == "SW1A1AA"
    assert normalize.birth_date("1980-02-30") is None and normalize.birth_date("1981-02-29T00:00:00") is None
    assert normalize.birth_date("1984-02-29") == "1984-02-29"
