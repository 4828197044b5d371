"""Contact import (journeys/contacts_csv.py): CSV rows to contact events, bad rows reported
by line number without stopping the good ones."""

from __future__ import annotations

from journeys.contacts_csv import contact_id_for, parse_contacts_csv, rows_to_events


def test_columns_map_to_attributes_tags_and_a_stable_id():
    result = parse_contacts_csv("email,First_Name,city,tags\nAnna@Example.com,Anna,Berlin,\"VIP, b2b ,vip\"\n")
    assert result.errors == []
    [row] = result.rows
    assert row.line == 2
    assert row.attributes == {"email": "anna@example.com", "first_name": "Anna", "city": "Berlin"}
    assert row.tags == ["b2b", "vip"]
    assert row.contact_id == contact_id_for("default", "anna@example.com", None)
    assert row.contact_id.startswith("c_")


def test_the_id_is_stable_per_workspace_and_ignores_email_case_and_phone_punctuation():
    assert contact_id_for("w", " Anna@Example.com ", None) == contact_id_for("w", "anna@example.com", "+49 1")
    assert contact_id_for("w", "anna@example.com", None) != contact_id_for("v", "anna@example.com", None)
    assert contact_id_for("w", None, "+49 (151) 000-00") == contact_id_for("w", "", "+4915100000")


def test_a_given_contact_id_or_id_column_wins():
    result = parse_contacts_csv("contact_id,email\nc_42,a@x.io\n")
    assert result.rows[0].contact_id == "c_42"
    result = parse_contacts_csv("id,city\nc_7,Rome\n")
    assert result.rows[0].contact_id == "c_7"
    assert result.rows[0].attributes == {"city": "Rome"}


def test_existing_lookup_finds_a_known_contact():
    seen = []

    def existing(workspace, email, phone):
        seen.append((workspace, email, phone))
        return "c_known" if email == "a@x.io" else None

    result = parse_contacts_csv("email,phone\nA@x.io,\nb@x.io,+4915100000\n", workspace="acme", existing=existing)
    assert [r.contact_id for r in result.rows] == ["c_known", contact_id_for("acme", "b@x.io", "+4915100000")]
    assert seen == [("acme", "a@x.io", None), ("acme", "b@x.io", "+4915100000")]


def test_bad_rows_are_reported_by_line_and_good_rows_kept():
    text = "\n".join([
        "email,phone,city",
        "good@x.io,,Berlin",          # 2
        "not-an-email,,Rome",         # 3
        ",12,Paris",                  # 4 phone too short
        ",,Oslo",                     # 5 no address
        "a@x.io,,Rome,extra",         # 6 too many values
        "b@x.io,+33 1 23 45 67 89",   # 7 too few values
        "c@x.io,+33 1 23 45 67 89,",  # 8 fine, empty city left out
    ]) + "\n"
    result = parse_contacts_csv(text)
    assert [r.line for r in result.rows] == [2, 8]
    assert result.rows[1].attributes == {"email": "c@x.io", "phone": "+33 1 23 45 67 89"}
    by_line = {e["line"]: e for e in result.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert by_line[3]["column"] == "email" and "'not-an-email'" in by_line[3]["error"]
    assert by_line[4]["column"] == "phone"
    assert "no email, phone or contact_id" in by_line[5]["error"]
    assert "4 values but the header has 3 columns" in by_line[6]["error"]
    assert "fewer values" in by_line[7]["error"]


def test_blank_lines_are_skipped():
    result = parse_contacts_csv("email,city\n\na@x.io,Rome\n,\n")
    assert [r.line for r in result.rows] == [3]
    assert result.errors == []


def test_first_line_offsets_line_numbers_for_chunks():
    result = parse_contacts_csv("email\nbad\n", first_line=1001)
    assert result.errors == [{"line": 1002, "column": "email", "error": "'bad' is not an email address"}]


def test_header_problems():
    assert parse_contacts_csv("").errors[0]["error"].startswith("the file is empty")
    assert "needs an 'email', 'phone' or 'contact_id'" in parse_contacts_csv("name,city\nA,B\n").errors[0]["error"]
    assert "names a column twice" in parse_contacts_csv("email,Email\na@x.io,b@x.io\n").errors[0]["error"]
    for result in (parse_contacts_csv(""), parse_contacts_csv("name\nx\n")):
        assert result.rows == [] and result.errors[0]["line"] == 1


def test_header_names_are_trimmed_and_lower_cased():
    result = parse_contacts_csv(" Email , City \na@x.io,Rome\n")
    assert result.rows[0].attributes == {"email": "a@x.io", "city": "Rome"}


def test_rows_to_events_created_for_new_and_updated_for_known():
    rows = parse_contacts_csv("contact_id,email,tags\nc_1,a@x.io,vip\nc_2,b@x.io,\n").rows
    events = rows_to_events(rows, known={"c_2"}, workspace="acme")
    assert events == [
        {"type": "contact.created", "workspace": "acme", "contact_id": "c_1", "source": "import",
         "data": {"email": "a@x.io", "tags": ["vip"]}},
        {"type": "contact.updated", "workspace": "acme", "contact_id": "c_2", "source": "import",
         "data": {"email": "b@x.io"}},
    ]


def test_imported_events_are_valid_envelopes():
    from journeys.events import Event

    rows = parse_contacts_csv("email,phone,tags,plan\na@x.io,+4915100000,\"a,b\",pro\n").rows
    for record in rows_to_events(rows, known=set()):
        Event.model_validate(record)


def test_importing_the_same_file_twice_gives_the_same_ids():
    text = "email,phone\na@x.io,\n,+4915100000\n"
    assert [r.contact_id for r in parse_contacts_csv(text).rows] == [r.contact_id for r in parse_contacts_csv(text).rows]


def test_broken_quotes_are_reported_at_their_first_line_and_later_rows_survive():
    text = ('email,note\n'
            'a@x.io,"x"y\n'          # 2: text after a closing quote
            'b@x.io,ok\n'            # 3
            'c@x.io,"open\n'         # 4: never closed
            'd@x.io,"two\nlines"\n')  # 5-6 would be swallowed by a lenient reader
    result = parse_contacts_csv(text, first_line=11)
    assert [e["line"] for e in result.errors] == [12, 14]
    assert all("quotes" in e["error"] for e in result.errors)
    assert [r.line for r in result.rows] == [13, 15]
    assert [r.attributes["email"] for r in result.rows] == ["b@x.io", "d@x.io"]
