"""Contacts: list/search/pagination, detail, create/update/delete as events (``?wait=true``
for read-your-writes), and CSV import with per-line errors. A refused request never
changes what is stored."""

from __future__ import annotations

from journeys.contacts_csv import contact_id_for
from tests.api.conftest import contact_ids, error_locs, log_ids, publish_cart
from tests.support import settle


def create(client, **body):
    response = client.post("/v1/contacts", params={"wait": "true"}, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["projected"] is True
    return response.json()["contact_id"]


def upload(client, text: str | bytes, first_line: int | None = None, name: str = "contacts.csv"):
    data = {"first_line": str(first_line)} if first_line is not None else {}
    return client.post("/v1/contacts/import", params={"wait": "true"},
                       files={"file": (name, text if isinstance(text, bytes) else text.encode(), "text/csv")}, data=data)


def test_create_with_wait_is_visible_at_once(app_client):
    response = app_client.post("/v1/contacts", params={"wait": "true"}, json={
        "email": "Ann.Lee@Example.com", "first_name": "Ann", "last_name": "Lee", "timezone": "Europe/Berlin",
        "tags": ["VIP", " Newsletter ", "vip", ""], "attributes": {"plan": "pro", "seats": 3}})
    assert response.status_code == 202
    body = response.json()
    assert body["contact_id"] == contact_id_for("default", "ann.lee@example.com", None)
    assert body["projected"] is True and len(body["event_ids"]) == 1
    # no settle(): wait=true means the read model already shows it
    contact = app_client.get(f"/v1/contacts/{body['contact_id']}").json()
    assert contact["email"] == "ann.lee@example.com"
    assert (contact["first_name"], contact["last_name"]) == ("Ann", "Lee")
    assert contact["tags"] == ["newsletter", "vip"]
    assert contact["attributes"]["plan"] == "pro" and contact["attributes"]["seats"] == 3
    assert contact["attributes"]["timezone"] == "Europe/Berlin"
    assert [e["id"] for e in contact["recent_events"]] == body["event_ids"]


def test_create_with_explicit_id_and_conflict(app_client):
    assert create(app_client, contact_id="c-1", phone="+49 170 1234567", first_name="Bo") == "c-1"
    response = app_client.post("/v1/contacts", json={"contact_id": "c-1", "first_name": "Mallory"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert "PATCH" in response.json()["error"]["message"]
    settle(app_client)
    assert app_client.get("/v1/contacts/c-1").json()["first_name"] == "Bo"
    assert contact_ids(app_client) == ["c-1"]


def test_create_refuses_bad_input_and_stores_nothing(app_client):
    create(app_client, contact_id="keep", email="keep@example.com")
    before = log_ids(app_client)
    cases = [
        ({"contact_id": "x", "emial": "typo@example.com"}, 422, "emial"),
        ({"contact_id": "x", "tags": "vip"}, 422, "tags"),
        ({"contact_id": "x", "tags": [1, 2]}, 422, "tags[0]"),
        ({"contact_id": "x", "attributes": ["plan"]}, 422, "attributes"),
        ({"contact_id": "x", "email": "not-an-email"}, 422, "email"),
        ({"contact_id": "x", "phone": "call me"}, 422, "phone"),
        ({"contact_id": "", "first_name": "Empty"}, 422, "contact_id"),
        ({"first_name": "Nobody"}, 422, "contact_id"),
        ({"contact_id": 12}, 422, "contact_id"),
    ]
    for payload, status, loc in cases:
        response = app_client.post("/v1/contacts", json=payload)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert loc in error_locs(response), (payload, error_locs(response))
    unknown = app_client.post("/v1/contacts", json={"contact_id": "x", "colour": "red"})
    assert unknown.json()["error"]["details"] == [{"loc": "colour", "message": "unknown field"}]
    for raw in (b'{"contact_id": "x",', b"[1, 2]", b""):
        response = app_client.post("/v1/contacts", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422), raw
        assert response.json()["error"]["code"] in ("malformed_json", "validation_error")
    assert app_client.post("/v1/contacts", content=b'{"contact_id": "x",',
                           headers={"Content-Type": "application/json"}).status_code == 400
    assert log_ids(app_client) == before
    assert contact_ids(app_client) == ["keep"]


def test_update_patches_attributes_and_null_removes_one(app_client):
    create(app_client, contact_id="c1", email="c1@example.com", attributes={"plan": "pro", "city": "Oslo"})
    response = app_client.patch("/v1/contacts/c1", params={"wait": "true"},
                                json={"first_name": "Cleo", "email": "CLEO@example.com", "attributes": {"plan": None, "size": "M"}})
    assert response.status_code == 202 and response.json()["projected"] is True
    contact = app_client.get("/v1/contacts/c1").json()
    assert contact["first_name"] == "Cleo" and contact["email"] == "cleo@example.com"
    assert "plan" not in contact["attributes"]
    assert contact["attributes"]["city"] == "Oslo" and contact["attributes"]["size"] == "M"
    assert [e["type"] for e in contact["recent_events"]] == ["contact.updated", "contact.created"]


def test_update_refuses_bad_input_and_keeps_the_contact(app_client):
    create(app_client, contact_id="c1", email="c1@example.com", first_name="Ann")
    before = log_ids(app_client)
    cases = [
        ({"first_name": "Bob", "tags": ["vip"]}, "tags"),  # tags are not patched here (use contact.tagged)
        ({"contact_id": "c2"}, "contact_id"),
        ({"email": "nope"}, "email"),
        ({"attributes": "plan=pro"}, "attributes"),
        ({"first_name": ["Bob"]}, "first_name"),
        ({}, "body"),
    ]
    for payload, loc in cases:
        response = app_client.patch("/v1/contacts/c1", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert loc in error_locs(response), (payload, error_locs(response))
    response = app_client.patch("/v1/contacts/c1", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    ghost = app_client.patch("/v1/contacts/ghost", json={"first_name": "Boo"})
    assert ghost.status_code == 404 and ghost.json()["error"]["code"] == "not_found"
    assert log_ids(app_client) == before
    contact = app_client.get("/v1/contacts/c1").json()
    assert contact["first_name"] == "Ann" and contact["email"] == "c1@example.com"
    assert contact_ids(app_client) == ["c1"]


def test_delete_erases_the_contact(app_client):
    create(app_client, contact_id="c1", email="c1@example.com", tags=["vip"])
    create(app_client, contact_id="c2", email="c2@example.com")
    response = app_client.delete("/v1/contacts/c1", params={"wait": "true"})
    assert response.status_code == 202 and response.json()["projected"] is True
    assert app_client.get("/v1/contacts/c1").status_code == 404
    listing = app_client.get("/v1/contacts").json()
    assert [c["contact_id"] for c in listing["items"]] == ["c2"] and listing["total"] == 1
    assert app_client.get("/v1/contacts", params={"search": "c1@"}).json()["total"] == 0
    missing = app_client.delete("/v1/contacts/c1")
    assert missing.status_code == 404
    assert contact_ids(app_client) == ["c2"]


def test_list_search_and_cursor_pagination(app_client):
    people = [("Anna", "Berg", "anna@example.com"), ("Joanne", "Smith", "jo@example.org"),
              ("Bob", "Anders", "bob@example.com"), ("Cy", "Young", "cy@shop.io"),
              ("Dee", "Lang", "dee@example.com"), ("Eve", "Stone", "eve@example.com"),
              ("Finn", "Hall", "finn@example.com")]
    for i, (first, last, email) in enumerate(people):
        create(app_client, contact_id=f"p{i}", first_name=first, last_name=last, email=email)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = app_client.get("/v1/contacts", params=params).json()
        assert page["total"] == 7 and len(page["items"]) <= 3
        seen += [c["contact_id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == [f"p{i}" for i in range(7)]

    def search(term):
        found = app_client.get("/v1/contacts", params={"search": term}).json()
        assert found["total"] == len(found["items"])
        return sorted(c["contact_id"] for c in found["items"])

    assert search("ANN") == ["p0", "p1"]            # first names Anna and Joanne, any case
    assert search("anders") == ["p2"]               # last name
    assert search("example.org") == ["p1"]          # email
    assert search("Eve Stone") == ["p5"]            # full name
    assert search("p6") == ["p6"]                   # contact id
    assert search("%") == [] and search("_") == []  # LIKE wildcards are literal
    first = app_client.get("/v1/contacts", params={"search": "example.com", "limit": 2}).json()
    assert first["total"] == 5 and len(first["items"]) == 2
    rest = app_client.get("/v1/contacts", params={"search": "example.com", "limit": 10, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None


def test_list_refuses_bad_parameters(app_client):
    create(app_client, contact_id="c1", email="c1@example.com")
    for params, loc in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "ten"}, "limit"),
                        ({"cursor": "!!!"}, "cursor"), ({"cursor": "%%%%"}, "cursor"), ({"search": "x" * 201}, "search")):
        response = app_client.get("/v1/contacts", params=params)
        assert response.status_code == 422, (params, response.text)
        assert error_locs(response) == [loc]
    assert app_client.get("/v1/contacts/ghost").status_code == 404
    assert contact_ids(app_client) == ["c1"]


def test_detail_has_tags_recent_events_and_journey_positions(app_client):
    publish_cart(app_client)
    create(app_client, contact_id="c1", email="c1@example.com", first_name="Ann", tags=["VIP"])
    app_client.post("/v1/events", json={"batch": [
        {"id": "cart-1", "type": "cart.updated", "contact_id": "c1", "data": {"cart_id": "k1"}},
        {"id": "tag-1", "type": "contact.tagged", "contact_id": "c1", "data": {"tag": "Gold"}},
    ]})
    settle(app_client)
    contact = app_client.get("/v1/contacts/c1").json()
    assert set(contact["tags"]) >= {"vip"}
    api_events = [e["id"] for e in contact["recent_events"] if e["source"] == "api"]
    assert api_events[:2] == ["tag-1", "cart-1"]
    assert any(e["type"] == "journey.entered" for e in contact["recent_events"])
    [position] = contact["journeys"]
    assert position["journey_id"] == "abandoned-cart" and position["version"] == 1
    assert position["node_id"] == "wait_order" and position["state"] == "active"
    assert contact["messages"] == []


# -- CSV import -------------------------------------------------------------------------

GOOD_AND_BROKEN = (
    "email,phone,first_name,tags,plan,city\n"            # 1
    "ann@example.com,,Ann,\"VIP, Newsletter\",pro,Oslo\n"  # 2 ok
    "not-an-email,,Bad,,,\n"                              # 3 bad email
    "bob@example.com,+49 170 1234567,Bob,,,\n"            # 4 ok
    ",call me,Phony,,,\n"                                 # 5 bad phone
    "cy@example.com,,Cy,,basic,Rome,EXTRA\n"              # 6 too many values
    "dee@example.com,,Dee\n"                              # 7 too few values
    "\n"                                                  # 8 blank: skipped
    ",,Nameless,,,\n"                                     # 9 no address
    "EVE@Example.com,,Eve,Gold,,\n"                       # 10 ok
)


def test_import_reports_broken_rows_by_line_and_imports_the_rest(app_client):
    create(app_client, contact_id="existing", email="keep@example.com")
    response = upload(app_client, GOOD_AND_BROKEN)
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    lines = [(e["line"], e.get("column")) for e in body["error"]["details"]]
    assert lines == [(3, "email"), (5, "phone"), (6, None), (7, None), (9, None)]
    assert all(e["error"] for e in body["error"]["details"])
    assert (body["created"], body["updated"], body["failed"]) == (3, 0, 5)
    ann_id = contact_id_for("default", "ann@example.com", None)
    eve_id = contact_id_for("default", "eve@example.com", None)
    ids = contact_ids(app_client)
    assert len(ids) == 4 and {"existing", ann_id, eve_id} <= set(ids)
    ann = app_client.get(f"/v1/contacts/{ann_id}").json()
    assert ann["tags"] == ["newsletter", "vip"]
    assert ann["first_name"] == "Ann" and ann["attributes"]["plan"] == "pro" and ann["attributes"]["city"] == "Oslo"
    assert "tags" not in ann["attributes"]
    assert ann["recent_events"][0]["source"] == "import"
    eve = app_client.get(f"/v1/contacts/{eve_id}").json()
    assert eve["email"] == "eve@example.com" and eve["tags"] == ["gold"]


def test_import_twice_updates_instead_of_duplicating(app_client):
    text = "email,first_name,tags\nann@example.com,Ann,vip\nbob@example.com,Bob,\n"
    first = upload(app_client, text)
    assert first.status_code == 200, first.text
    assert first.json() == {"rows": 2, "created": 2, "updated": 0, "failed": 0, "projected": True}
    second = upload(app_client, text.replace("Ann", "Anne"))
    assert second.status_code == 200
    assert (second.json()["created"], second.json()["updated"]) == (0, 2)
    ids = contact_ids(app_client)
    assert len(ids) == 2
    ann = app_client.get(f"/v1/contacts/{contact_id_for('default', 'ann@example.com', None)}").json()
    assert ann["first_name"] == "Anne"
    # an existing contact found by its email keeps its own id
    create(app_client, contact_id="crm-7", email="cy@example.com")
    third = upload(app_client, "email,first_name\nCY@example.com,Cyrus\n")
    assert third.json()["updated"] == 1 and third.json()["created"] == 0
    assert app_client.get("/v1/contacts/crm-7").json()["first_name"] == "Cyrus"
    assert len(contact_ids(app_client)) == 3


def test_import_first_line_offsets_the_line_numbers(app_client):
    # a chunk of a bigger file: its header stands for line 101, so its rows are 102 and 103
    response = upload(app_client, "email,first_name\nok@example.com,Ok\nbroken,Bad\n", first_line=101)
    assert response.status_code == 422
    assert [e["line"] for e in response.json()["error"]["details"]] == [103]
    assert response.json()["created"] == 1


def test_import_multiline_quoted_field_keeps_line_numbers(app_client):
    text = ('email,note\n'                             # 1
            'a@example.com,"two\nlines"\n'             # 2-3
            'bad-address,x\n'                          # 4
            'b@example.com,plain\n')                   # 5
    response = upload(app_client, text)
    assert [e["line"] for e in response.json()["error"]["details"]] == [4]
    a = app_client.get(f"/v1/contacts/{contact_id_for('default', 'a@example.com', None)}").json()
    assert a["attributes"]["note"] == "two\nlines"


def test_import_unterminated_quote_is_a_broken_row(app_client):
    text = ('email,note\n'                   # 1
            'a@example.com,"unterminated\n'  # 2 broken: the quote never closes
            'b@example.com,ok\n'             # 3
            'c@example.com,ok\n')            # 4
    response = upload(app_client, text)
    assert response.status_code == 422
    assert [e["line"] for e in response.json()["error"]["details"]] == [2]
    assert response.json()["created"] == 2  # the rows after the broken one are not swallowed


def test_import_refuses_unusable_files_and_stores_nothing(app_client):
    create(app_client, contact_id="keep", email="keep@example.com")
    before = log_ids(app_client)
    no_address = upload(app_client, "name,city\nAnn,Oslo\n")
    assert no_address.status_code == 422
    assert no_address.json()["error"]["details"][0]["line"] == 1
    assert "email" in no_address.json()["error"]["details"][0]["error"]
    twice = upload(app_client, "email,email\na@example.com,b@example.com\n")
    assert twice.status_code == 422 and twice.json()["error"]["details"][0]["line"] == 1
    empty = upload(app_client, "")
    assert empty.status_code == 422 and empty.json()["error"]["details"][0]["line"] == 1
    latin1 = upload(app_client, "email,first_name\nj@example.com,J\u00fcrgen\n".encode("latin-1"))
    assert latin1.status_code == 422 and error_locs(latin1) == ["file"]
    assert "UTF-8" in latin1.json()["error"]["message"]
    missing = app_client.post("/v1/contacts/import", data={"first_line": "1"})
    assert missing.status_code == 422 and error_locs(missing) == ["file"]
    for first_line in ("0", "two"):
        bad = upload(app_client, "email\na@example.com\n", first_line=first_line)
        assert bad.status_code == 422 and error_locs(bad) == ["first_line"]
    assert log_ids(app_client) == before
    assert contact_ids(app_client) == ["keep"]


def test_import_with_bom_and_crlf(app_client):
    text = "\ufeffEmail,First_Name,Tags\r\nann@example.com,Ann,VIP\r\n"
    response = upload(app_client, text)
    assert response.status_code == 200, response.text
    ann = app_client.get(f"/v1/contacts/{contact_id_for('default', 'ann@example.com', None)}").json()
    assert ann["first_name"] == "Ann" and ann["tags"] == ["vip"]
