"""The ready-made journeys and templates: present, valid, and wired to each other."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from journeys.graph import Journey, out_handles
from journeys.library import library_journey, library_journeys, library_templates
from journeys.validation import validate_journey

EXPECTED = {"abandoned-cart", "welcome-series", "win-back", "qr-offer-broadcast"}
TEMPLATE_IDS = {"cart-reminder", "cart-offer", "cart-last-call", "welcome", "welcome-tips",
                "welcome-reminder", "win-back-offer", "win-back-sms", "qr-offer"}


def test_all_library_journeys_are_listed():
    assert {j["id"] for j in library_journeys()} == EXPECTED


def test_templates_have_the_expected_ids_and_shape():
    templates = library_templates()
    assert {t["id"] for t in templates} == TEMPLATE_IDS
    assert len(templates) == len(TEMPLATE_IDS)
    for t in templates:
        assert t["name"] and t["text"] and t["channel"] in ("email", "sms", "whatsapp")
        if t["channel"] == "email":
            assert t["subject"] and t["html"]
            assert "{{ unsubscribe_url }}" in t["html"]
        else:
            assert "subject" not in t and "html" not in t
        assert "{{ unsubscribe_url }}" in t["text"]


@pytest.mark.parametrize("journey_id", sorted(EXPECTED))
def test_library_journey_has_no_problems(journey_id):
    journey = Journey.model_validate(library_journey(journey_id))
    ids = [t["id"] for t in library_templates()]
    assert [str(p) for p in validate_journey(journey, templates=ids)] == []


@pytest.mark.parametrize("journey_id", sorted(EXPECTED))
def test_nodes_have_labels_and_positions(journey_id):
    for node in library_journey(journey_id)["nodes"]:
        assert node["data"].get("label"), node["id"]
        assert set(node["position"]) == {"x", "y"}


@pytest.mark.parametrize("journey_id", ["welcome-series", "win-back", "qr-offer-broadcast"])
def test_layout_runs_top_to_bottom(journey_id):
    journey = library_journey(journey_id)
    nodes = {n["id"]: n for n in journey["nodes"]}
    for edge in journey["edges"]:
        assert nodes[edge["target"]]["position"]["y"] > nodes[edge["source"]]["position"]["y"], edge["id"]


def test_every_template_is_used_and_offers_are_guarded():
    used = {n["data"]["template"]: n for j in library_journeys() for n in j["nodes"] if n["type"] == "send"}
    assert set(used) == TEMPLATE_IDS
    for t in library_templates():
        source = " ".join(t.get(k, "") for k in ("subject", "html", "text"))
        if "offer." in source:
            assert "{% if offer is defined and offer %}" in source, t["id"]
            assert used[t["id"]]["data"].get("offer"), f"{t['id']} shows an offer its send node does not attach"
        # the channel of the template is the channel of the node that sends it
        assert used[t["id"]]["data"]["channel"] == t["channel"]


@pytest.mark.parametrize("with_offer", [True, False])
def test_templates_render_with_strict_undefined(with_offer):
    """Offer parts are guarded, so a context without ``offer`` renders too."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
    context = {"contact": {"first_name": "Anna"}, "trigger": {"data": {"cart_id": "k1"}},
               "unsubscribe_url": "https://x.example/u/1"}
    if with_offer:
        context["offer"] = {"qr_img": "data:image/png;base64,AAAA"}
    for t in library_templates():
        for part in ("subject", "html", "text"):
            if part in t:
                out = env.from_string(t[part]).render(**context)
                assert "{{" not in out and "{%" not in out
                if part == "html" and with_offer and "offer." in t[part]:
                    assert "data:image/png;base64,AAAA" in out
    # a contact without a first name is greeted with the default
    welcome = next(t for t in library_templates() if t["id"] == "welcome")
    assert env.from_string(welcome["text"]).render(contact={}, unsubscribe_url="u").startswith("Hi there,")


def test_welcome_series_shape():
    j = library_journey("welcome-series")
    assert j["settings"]["goal"] == {"event": "order.placed"}
    branch = next(n for n in j["nodes"] if n["type"] == "branch")
    assert branch["data"]["cases"][0]["rule"] == {"engaged": "opened", "journey": "welcome-series"}
    assert out_handles(branch) == ["opened", "else"]


def test_win_back_shape():
    j = library_journey("win-back")
    assert j["settings"] == {"reentry": "after", "reentry_after": "P90D",
                             "quiet_hours": {"start": "21:00", "end": "08:00"}}
    entry = next(n for n in j["nodes"] if n["type"] == "entry")
    assert entry["data"]["trigger"] == {"event": "segment.entered", "segment": "lapsed-customers"}
    split = next(n for n in j["nodes"] if n["type"] == "branch")
    assert split["data"]["variants"] == [{"handle": "treatment", "weight": 90}, {"handle": "holdout", "weight": 10}]
    offer = next(n for n in j["nodes"] if n["data"].get("template") == "win-back-offer")
    assert offer["data"]["offer"] == {"kind": "qr", "expires_in": "P14D", "max_uses": 1,
                                      "description": "15% off your next order"}


def test_library_returns_fresh_copies():
    library_journey("win-back")["name"] = "changed"
    library_templates()[0]["id"] = "changed"
    assert library_journey("win-back")["name"] == "Win-back"
    assert library_templates()[0]["id"] != "changed"


def test_unknown_library_journey_names_the_known_ones():
    with pytest.raises(KeyError, match="welcome-series"):
        library_journey("nope")
