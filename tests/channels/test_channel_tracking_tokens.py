"""Tracking tokens and email decoration (engine/tracking.py), and the deployment secret
(api/signing_key.py): pure tests, no app."""

from __future__ import annotations

import base64
import os
import re
import stat

import pytest

from api.settings import ConfigError, Settings
from api.signing_key import signing_key
from engine.providers.base import OutgoingMessage
from engine.templates import render, template_context
from engine.tracking import InvalidToken, Tracker, decorate_email

SECRET = b"test-secret-0123456789-abcdefghijklmnop"
BASE = "https://t.example.com"
MSG = {"workspace": "acme", "contact_id": "c_ann_4711", "message_id": "m_5f1c0a9e77d34b2c8a6e0f12",
       "channel": "email", "journey_id": "abandoned-cart", "to": "ann@example.com"}
SHOP = "https://shop.example.com/cart/k-42?utm_source=switchback&utm_medium=email"


@pytest.fixture
def tracker():
    return Tracker(SECRET, BASE + "/")


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_tokens_round_trip(tracker):
    opened = tracker.read(token_of(tracker.open_url(MSG)), "open")
    assert opened == {"workspace": "acme", "contact_id": "c_ann_4711", "message_id": MSG["message_id"],
                      "channel": "email", "journey_id": "abandoned-cart", "broadcast_id": None}
    clicked = tracker.read(token_of(tracker.click_url(MSG, SHOP)), "click")
    assert clicked == {**opened, "url": SHOP}
    unsubscribe = tracker.unsubscribe_url(MSG)
    assert unsubscribe.startswith(f"{BASE}/u/")
    assert tracker.read(token_of(unsubscribe), "unsubscribe") == opened
    # a broadcast message (no journey), given as an OutgoingMessage
    message = OutgoingMessage(message_id="m_b1", workspace="acme", contact_id="c_2", channel="sms", to="+4712345678")
    broadcast = {"message_id": "m_b1", "workspace": "acme", "contact_id": "c_2", "channel": "sms",
                 "broadcast_id": "spring-sale"}
    assert tracker.read(token_of(tracker.open_url(message)), "open")["journey_id"] is None
    assert tracker.read(token_of(tracker.unsubscribe_url(broadcast)), "unsubscribe")["broadcast_id"] == "spring-sale"
    # long links are deflated and still come back exactly
    long_url = "https://shop.example.com/p?" + "&".join(f"utm_param_{i}=value_{i}" for i in range(60))
    token = token_of(tracker.click_url(MSG, long_url))
    assert tracker.read(token, "click")["url"] == long_url
    assert len(token) < len(long_url)


def test_tokens_are_url_safe_short_deterministic_and_reveal_nothing(tracker):
    tokens = [token_of(tracker.open_url(MSG)), token_of(tracker.click_url(MSG, SHOP)),
              token_of(tracker.unsubscribe_url(MSG))]
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        for clear in ("c_ann_4711", "ann@example.com", MSG["message_id"], "5f1c0a9e77d3", "abandoned-cart", "acme",
                      "shop.example.com", "utm_source"):
            assert clear not in token and clear.encode() not in raw, clear
    assert len(tokens[0]) < 140 and len(tokens[2]) < 140
    # the same message gives the same token (the sender puts unsubscribe_url in the template
    # before rendering; decorate_email recognizes it afterwards); another message another one
    assert Tracker(SECRET, BASE).open_url(MSG) == tracker.open_url(MSG)
    assert tracker.open_url({**MSG, "message_id": "m_other"}) != tracker.open_url(MSG)
    assert len(set(tokens)) == 3


def test_altered_forged_and_other_kind_tokens_are_rejected(tracker):
    token = token_of(tracker.click_url(MSG, SHOP))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i in range(len(token)):
        changed = alphabet[(alphabet.index(token[i]) + 1) % 64]
        altered = token[:i] + changed + token[i + 1:]
        if altered != token:
            with pytest.raises(InvalidToken):
                tracker.read(altered, "click")
    for bad in ("", "x", token[:-1], token[:-10], token + "A", token + "AAAA", token + "==", "é" + token,
                "A" * 5000, "not a token!", base64.urlsafe_b64encode(b"\x01" + b"\0" * 40).decode()):
        with pytest.raises(InvalidToken):
            tracker.read(bad, "click")
    # a token made with another secret does not verify
    forged = token_of(Tracker(b"another-secret-0123456789abcdef", BASE).click_url(MSG, "https://evil.example/"))
    with pytest.raises(InvalidToken):
        tracker.read(forged, "click")
    # a token of one kind is not accepted as another
    kinds = {"open": token_of(tracker.open_url(MSG)), "click": token,
             "unsubscribe": token_of(tracker.unsubscribe_url(MSG))}
    for made, text in kinds.items():
        for asked in kinds:
            if asked == made:
                assert tracker.read(text, asked)["message_id"] == MSG["message_id"]
            else:
                with pytest.raises(InvalidToken):
                    tracker.read(text, asked)


def test_only_web_links_get_click_tokens(tracker):
    for url in ("javascript:alert(1)", "mailto:a@example.com", "/relative", "https://", "ftp://x.example/f",
                "https://x.example/\r\nSet-Cookie: a=b", " https://x.example/"):
        with pytest.raises(ValueError):
            tracker.click_url(MSG, url)
    with pytest.raises(ValueError):
        tracker.open_url({**MSG, "message_id": None})
    # a link too long for a token is left as it is, untracked
    huge = "https://shop.example.com/?q=" + "x" * 2100
    with pytest.raises(ValueError):
        tracker.click_url(MSG, huge)
    html, _ = decorate_email(f'<a href="{huge}">big</a>', None, MSG, postal_address=None, tracker=tracker)
    assert html.startswith(f'<a href="{huge}">big</a>')
    with pytest.raises(ValueError):
        Tracker(b"short", BASE)


HTML = """<!doctype html>
<html><head><style>a{color:red}</style></head>
<body>
<!-- <a href="https://commented.example/">hidden</a> -->
<p class='intro'>Hi Ann &amp; welcome</p>
<a class="btn" href="https://shop.example.com/cart/k-42?a=1&amp;b=2" target="_blank" style="padding:4px" \
title='see href="https://not-a-link.example"' data-href="https://data.example/">Back to your cart</a>
<a href="mailto:help@example.com">mail</a> <a href="tel:+4712345678">call</a> <a href="#top">top</a>
<a href="/relative/page">relative</a> <a name="anchor">no href</a>
<map><area shape="rect" coords="0,0,1,1" href="https://map.example/area"></map>
<A HREF=http://upper.example/x>upper</A>
</body>
</html>
"""


def test_links_are_rewritten_with_the_html_parser(tracker):
    html, _ = decorate_email(HTML, None, MSG, postal_address=None, tracker=tracker)
    tracked = re.findall(r'href="(https://t\.example\.com/c/[^"]+)"', html)
    targets = [tracker.read(token_of(url), "click")["url"] for url in tracked]
    assert targets == ["https://shop.example.com/cart/k-42?a=1&b=2", "https://map.example/area",
                       "http://upper.example/x"]
    # the other attributes of a rewritten tag are kept, in order, with their values
    assert re.search(r'<a class="btn" href="https://t\.example\.com/c/[^"]+" target="_blank" style="padding:4px" '
                     r'title="see href=&quot;https://not-a-link\.example&quot;" data-href="https://data\.example/">'
                     r"Back to your cart</a>", html)
    assert '<area shape="rect" coords="0,0,1,1" href="https://t.example.com/c/' in html
    # what is not an http(s) link stays byte for byte, and so does everything around it
    for kept in ('<a href="mailto:help@example.com">mail</a>', '<a href="tel:+4712345678">call</a>',
                 '<a href="#top">top</a>', '<a href="/relative/page">relative</a>', '<a name="anchor">no href</a>',
                 '<!-- <a href="https://commented.example/">hidden</a> -->', "<p class='intro'>Hi Ann &amp; welcome</p>",
                 "<style>a{color:red}</style>"):
        assert kept in html, kept
    assert "not-a-link.example" not in " ".join(targets) and "data.example" not in " ".join(targets)


def test_pixel_and_footer_are_added_once(tracker):
    html, text = decorate_email(HTML, "Your cart misses you: " + SHOP + "\n", MSG,
                                postal_address="Acme <Shop> & Co\n1 Main Street, Oslo", tracker=tracker)
    unsubscribe, pixel = tracker.unsubscribe_url(MSG), tracker.open_url(MSG)
    # html: footer then pixel, just before </body>
    assert html.count(unsubscribe) == 1 and html.count(pixel) == 1
    tail = html[html.index('<div data-switchback="footer"'):]
    assert tail.index(unsubscribe) < tail.index(f'<img src="{pixel}" width="1" height="1" alt=""') < tail.index("</body>")
    assert "Acme &lt;Shop&gt; &amp; Co<br>1 Main Street, Oslo" in tail
    # text: links stay as written, the footer has the link and the address
    assert text.startswith("Your cart misses you: " + SHOP + "\n\n--\n")
    assert text.endswith(f"Unsubscribe: {unsubscribe}\nAcme <Shop> & Co\n1 Main Street, Oslo\n")
    assert "/c/" not in text
    # decorating again changes nothing
    assert decorate_email(html, text, MSG, postal_address="Acme <Shop> & Co", tracker=tracker) == (html, text)
    # no </body>: the pixel goes at the end
    bare, _ = decorate_email("<p>Hi</p>", None, MSG, postal_address=None, tracker=tracker)
    assert bare.startswith("<p>Hi</p>") and bare.endswith('alt="" style="display:block;border:0;width:1px;height:1px">')
    assert "Acme" not in bare and bare.count(unsubscribe) == 1


def test_templates_with_their_own_unsubscribe_link_get_no_footer(tracker):
    template = {"channel": "email", "subject": "Hi",
                "html": '<body><p>Hi {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">Leave</a></body>',
                "text": "Hi {{ contact.first_name }}\nLeave: {{ unsubscribe_url }}"}
    context = template_context({"id": "c_ann_4711", "attributes": {"first_name": "Ann"}},
                               {"unsubscribe_url": tracker.unsubscribe_url(MSG)})
    rendered = render(template, context)
    html, text = decorate_email(rendered["html"], rendered["text"], MSG, postal_address="1 Main St", tracker=tracker)
    unsubscribe = tracker.unsubscribe_url(MSG)
    assert html.count(unsubscribe) == 1 and f'<a href="{unsubscribe}">Leave</a>' in html  # not rewritten
    assert 'data-switchback="footer"' not in html and "1 Main St" not in html
    assert tracker.open_url(MSG) in html
    assert text == rendered["text"]
    # only the html part has the link: the text part gets the footer
    html2, text2 = decorate_email(rendered["html"], "Hi Ann", MSG, postal_address=None, tracker=tracker)
    assert 'data-switchback="footer"' not in html2 and text2 == f"Hi Ann\n\n--\nUnsubscribe: {unsubscribe}\n"


def test_sms_whatsapp_and_missing_parts(tracker):
    for channel in ("sms", "whatsapp"):
        message = {**MSG, "channel": channel}
        assert decorate_email(None, f"Sale! {SHOP}", message, postal_address="1 Main St", tracker=tracker) == \
            (None, f"Sale! {SHOP}")
    html, text = decorate_email("<p>Hi</p>", None, MSG, postal_address=None, tracker=tracker)
    assert text is None and tracker.open_url(MSG) in html
    html, text = decorate_email(None, "Hi", MSG, postal_address=None, tracker=tracker)
    assert html is None and tracker.unsubscribe_url(MSG) in text


# -- the deployment secret -------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SWITCHBACK_SECRET_KEY", "SWITCHBACK_MODE", "SWITCHBACK_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_embedded_secret_is_generated_once_and_reused(tmp_path, clean_env):
    settings = Settings(data_dir=tmp_path / "data")
    first = signing_key(settings)
    path = tmp_path / "data" / "secret-key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) >= 32 and path.read_text().strip().encode() == first
    assert signing_key(Settings(data_dir=tmp_path / "data")) == first
    assert signing_key(Settings(data_dir=tmp_path / "other")) != first
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["secret-key"]  # no temporary file left


def test_configured_secret_wins_and_distributed_mode_requires_one(tmp_path, clean_env):
    configured = "k" * 40
    assert signing_key(Settings(data_dir=tmp_path, secret_key=configured)) == configured.encode()
    assert not (tmp_path / "secret-key").exists()
    with pytest.raises(ConfigError, match="too short"):
        signing_key(Settings(data_dir=tmp_path, secret_key="changeme"))
    with pytest.raises(ConfigError, match="SWITCHBACK_SECRET_KEY is not set"):
        signing_key(Settings(data_dir=tmp_path, mode="distributed"))
    assert not (tmp_path / "secret-key").exists()
    assert signing_key(Settings(data_dir=tmp_path, mode="distributed", secret_key=configured)) == configured.encode()
