"""The pure side of QR offers (journeys/offers.py): token format and parsing, offer terms,
expiry, the redemption decision with its reasons, and the statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from journeys.offers import (
    MAX_PART,
    OfferError,
    OfferTerms,
    campaign_stats,
    check_redeemable,
    epoch,
    expiry,
    format_duration,
    make_token,
    median,
    offer_status,
    offer_terms,
    parse_token,
    reason_message,
    sanitize,
    stats_summary,
    token_from_scan,
)

RANDOM = "Ab3-_xYz0123456789QRst"  # the shape of secrets.token_urlsafe(16): 22 URL-safe characters
T = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


# -- tokens -------------------------------------------------------------------------------

def test_token_is_campaign_contact_random():
    assert make_token("spring", "c123", RANDOM) == f"spring-c123-{RANDOM}"


@pytest.mark.parametrize("raw, clean", [
    ("abandoned-cart", "abandoned_cart"),
    ("ann@example.com", "ann_example_com"),
    ("c 1/2?x=y#z", "c_1_2_x_y_z"),
    ("--weird--", "weird"),
    ("Ünïcödé", "n_c_d"),
    ("", "_"),
    ("@@@", "_"),
    (12345, "12345"),
    (None, "_"),
])
def test_sanitize_keeps_url_safe_characters_only(raw, clean):
    assert sanitize(raw) == clean


def test_sanitize_caps_the_length():
    assert sanitize("x" * 100) == "x" * MAX_PART
    assert sanitize("a" * (MAX_PART - 1) + "-b") == "a" * (MAX_PART - 1)  # no trailing '_' after the cut


def test_token_from_long_and_odd_ids_stays_short_and_parses():
    token = make_token("black-friday/2026 mega sale!!", "someone+tag@example.com", RANDOM)
    assert len(token) <= 2 * MAX_PART + 2 + len(RANDOM)
    assert all(ch.isalnum() or ch in "-_" for ch in token)
    parts = parse_token(token)
    assert parts is not None
    assert parts.campaign == "black_friday_2026_mega_s"
    assert parts.contact == "someone_tag_example_com"
    assert parts.random == RANDOM


def test_parse_keeps_dashes_of_the_random_part():
    parts = parse_token("camp-c1-ab-cd-ef-gh-ij-kl-mn")
    assert parts is not None and (parts.campaign, parts.contact, parts.random) == ("camp", "c1", "ab-cd-ef-gh-ij-kl-mn")


@pytest.mark.parametrize("bad", [
    None, 42, "", "camp", "camp-c1", f"camp-c1-{'x' * 15}", f"camp-c1-{'x' * 65}", f"ca.mp-c1-{RANDOM}",
    f"-c1-{RANDOM}", f"camp--{RANDOM}", f"camp-c1-{RANDOM[:-1]}!", f"{'c' * (MAX_PART + 1)}-c1-{RANDOM}",
    f"camp-c1-{RANDOM} ", f"camp-c1-{RANDOM}\n",
])
def test_malformed_tokens_do_not_parse(bad):
    assert parse_token(bad) is None


@pytest.mark.parametrize("random", ["short", "x" * 65, "has space inside ok", "bad/slash/character", 123, None])
def test_random_part_must_be_long_url_safe_text(random):
    with pytest.raises(OfferError) as err:
        make_token("c", "k", random)
    assert err.value.loc == "random"


@pytest.mark.parametrize("scanned", [
    f"camp-c1-{RANDOM}",
    f"  camp-c1-{RANDOM}\n",
    f"https://shop.example.com/q/camp-c1-{RANDOM}",
    f"http://127.0.0.1:8000/q/camp-c1-{RANDOM}?utm=x",
    f"https://x.example/q/camp-c1-{RANDOM}/qr.png",
])
def test_a_scanned_url_or_typed_code_gives_the_token(scanned):
    assert token_from_scan(scanned) == f"camp-c1-{RANDOM}"


def test_scan_of_nothing_useful():
    assert token_from_scan(None) == ""
    assert token_from_scan("https://example.com/other") == "https://example.com/other"  # then parse_token says no


# -- terms and expiry -----------------------------------------------------------------------

def test_terms_defaults_and_full_spec():
    assert offer_terms({}) == OfferTerms("qr", None, 1, None, None)
    spec = {"kind": "qr", "expires_in": "P14D", "max_uses": 3, "value": "10%", "description": "10% off your next order"}
    assert offer_terms(spec).as_dict() == spec
    assert offer_terms({"value": 5}).value == "5"


@pytest.mark.parametrize("spec, loc", [
    ("P14D", "offer"),
    ({"kind": "coupon"}, "offer.kind"),
    ({"expires_in": "14 days"}, "offer.expires_in"),
    ({"expires_in": "P1M"}, "offer.expires_in"),
    ({"expires_in": 14}, "offer.expires_in"),
    ({"max_uses": 0}, "offer.max_uses"),
    ({"max_uses": "1"}, "offer.max_uses"),
    ({"max_uses": True}, "offer.max_uses"),
    ({"max_uses": 1.5}, "offer.max_uses"),
    ({"value": ["10%"]}, "offer.value"),
    ({"value": float("nan")}, "offer.value"),
    ({"description": "x" * 501}, "offer.description"),
])
def test_bad_terms_name_the_field(spec, loc):
    with pytest.raises(OfferError) as err:
        offer_terms(spec)
    assert err.value.loc == loc
    assert loc in str(err.value)


def test_unknown_fields_are_refused_only_when_strict():
    assert offer_terms({"max_use": 2}).max_uses == 1
    with pytest.raises(OfferError) as err:
        offer_terms({"max_use": 2}, loc="nodes[3].data.offer", strict=True)
    assert err.value.loc == "nodes[3].data.offer.max_use"


def test_expiry_from_iso_durations():
    assert expiry(T, "P14D") == T + 14 * DAY
    assert expiry(T, "PT4H30M") == T + 4.5 * 3600
    assert expiry(T, None) is None


def test_epoch_takes_numbers_and_aware_datetimes():
    moment = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert epoch(moment) == T == epoch(T) == epoch(int(T))
    for bad in (datetime(2026, 11, 21), "2026-11-21", float("inf"), True):
        with pytest.raises(ValueError):
            epoch(bad)


# -- the decision -------------------------------------------------------------------------

def offer(uses=0, max_uses=1, expires_at=T + DAY):
    return {"uses": uses, "max_uses": max_uses, "expires_at": expires_at}


def test_redeemable_until_the_expiry_instant():
    assert check_redeemable(offer(), T) is None
    assert check_redeemable(offer(), T + DAY - 0.001) is None
    assert check_redeemable(offer(), T + DAY) == "expired"
    assert check_redeemable(offer(expires_at=None), T + 1000 * DAY) is None


def test_reasons():
    assert check_redeemable(None, T) == "unknown"
    assert check_redeemable(offer(uses=1), T) == "used_up"
    assert check_redeemable(offer(uses=2, max_uses=3), T) is None
    assert check_redeemable(offer(uses=3, max_uses=3), T) == "used_up"
    # used up stays used up, however late it is shown
    assert check_redeemable(offer(uses=1), T + 2 * DAY) == "used_up"


def test_status_and_messages():
    assert offer_status(offer(), T) == "active"
    assert offer_status(offer(uses=1), T) == "used_up"
    assert offer_status(offer(), T + 2 * DAY) == "expired"
    assert "already used 1 of 1" in reason_message("used_up", {**offer(uses=1), "last_redeemed_at": T})
    assert str(T + DAY) in reason_message("expired", offer())
    assert "no such offer" in reason_message("unknown")


# -- statistics ---------------------------------------------------------------------------

def test_median_odd_even_and_empty():
    assert median([5, 1, 3]) == 3
    assert median([4, 1, 3, 2]) == 2.5
    assert median([]) is None


@pytest.mark.parametrize("seconds, text", [
    (None, None), (0, "PT0S"), (0.4, "PT0S"), (59, "PT59S"), (3600, "PT1H"), (7200.4, "PT2H"),
    (86400, "P1D"), (93784, "P1DT2H3M4S"), (14 * 86400 + 60, "P14DT1M"), (-5, "PT0S"),
])
def test_durations_in_iso_8601(seconds, text):
    assert format_duration(seconds) == text


def test_summary_rate_and_median():
    summary = stats_summary(issued=4, redeemed=3, uses=5, times_to_redeem=[3600, 7200, 86400])
    assert summary == {"issued": 4, "redeemed": 3, "uses": 5, "redemption_rate": 0.75,
                       "median_time_to_redeem_seconds": 7200.0, "median_time_to_redeem": "PT2H"}
    empty = stats_summary(0, 0, 0, [])
    assert empty["redemption_rate"] == 0.0 and empty["median_time_to_redeem"] is None


def test_campaign_stats_counts_first_redemptions_only():
    offers = [
        {"issued_at": T, "redemptions": [{"at": T + 3600}]},
        {"issued_at": T, "redemptions": [{"at": T + 5 * DAY}, {"at": T + 7200}]},  # first use after 2 hours
        {"issued_at": T + DAY, "redemptions": []},
        {"issued_at": T + DAY},
    ]
    stats = campaign_stats(offers)
    assert (stats["issued"], stats["redeemed"], stats["uses"]) == (4, 2, 3)
    assert stats["redemption_rate"] == 0.5
    assert stats["median_time_to_redeem_seconds"] == 5400.0
    assert stats["median_time_to_redeem"] == format_duration(timedelta(minutes=90).total_seconds())
