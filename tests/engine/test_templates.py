"""Message rendering: merge tags, preview errors, the sandbox, HTML escaping."""

from __future__ import annotations

import pytest

from engine import templates as templates_module
from engine.templates import TemplateError, check_syntax, render, template_context
from journeys.contact import apply_event, new_contact

EMAIL = {"id": "welcome", "channel": "email", "subject": "Hi {{ contact.first_name }}",
         "html": "<p>Hello {{ contact.first_name }}</p>\n<a href=\"{{ unsubscribe_url }}\">stop</a>",
         "text": "Hello {{ contact.first_name }}"}


def contact(**attributes):
    state = new_contact("c_1", "acme")
    return apply_event(state, {"type": "contact.created", "occurred_at": "2026-11-21T10:00:00Z",
                               "data": {**attributes, "tags": ["VIP"]}})


def test_template_context_flattens_the_contact():
    ctx = template_context(contact(first_name="Ann", city="Lyon"), {"unsubscribe_url": "https://u/1", "offer": {"code": "X"}})
    assert ctx["contact"]["first_name"] == "Ann"
    assert ctx["contact"]["city"] == "Lyon"
    assert ctx["contact"]["id"] == "c_1"
    assert ctx["contact"]["tags"] == ["vip"]
    assert ctx["unsubscribe_url"] == "https://u/1" and ctx["offer"] == {"code": "X"}


def test_render_email_parts():
    ctx = template_context(contact(first_name="Ann"), {"unsubscribe_url": "https://x.test/u?a=1&b=2"})
    out = render(EMAIL, ctx)
    assert out["subject"] == "Hi Ann"
    assert out["text"] == "Hello Ann"
    assert "<p>Hello Ann</p>" in out["html"]
    assert "https://x.test/u?a=1&amp;b=2" in out["html"]


def test_only_present_parts_are_rendered():
    assert render({"subject": "S", "text": "T"}, {}) == {"subject": "S", "text": "T"}
    sms = {"channel": "sms", "subject": "ignored", "html": "<p>ignored</p>", "text": "Hi {{ contact.first_name }}"}
    assert render(sms, template_context(contact(first_name="Bo"))) == {"text": "Hi Bo"}


def test_html_is_autoescaped_but_text_and_subject_are_not():
    ctx = template_context(contact(first_name="<script>alert(1)</script> & Co"))
    out = render(EMAIL, ctx)
    assert "<script>" not in out["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in out["html"]
    assert out["text"] == "Hello <script>alert(1)</script> & Co"
    assert out["subject"] == "Hi <script>alert(1)</script> & Co"


def test_subject_stays_on_one_line():
    ctx = template_context(contact(first_name="Ann\r\nBcc: victim@example.com"))
    assert render({"subject": "Hi {{ contact.first_name }}"}, ctx)["subject"] == "Hi Ann Bcc: victim@example.com"


def test_sending_renders_missing_values_as_empty():
    ctx = template_context(contact())
    out = render({"text": "Hi {{ contact.first_name }}{{ contact.address.city }}{{ nowhere }}!",
                  "html": "<p>{{ contact.first_name | default('there') }}</p>"}, ctx)
    assert out == {"text": "Hi !", "html": "<p>there</p>"}


def test_preview_names_the_missing_merge_tag_field_and_line():
    ctx = template_context(contact(first_name="Ann"))
    template = {"subject": "Hi", "html": "<p>\n\n  {{ contact.first_nme }}\n</p>"}
    with pytest.raises(TemplateError) as err:
        render(template, ctx, strict=True)
    assert err.value.field == "html"
    assert err.value.message == "line 3: 'contact' has no attribute 'first_nme'"
    with pytest.raises(TemplateError) as err:
        render({"text": "{{ offer.code }}"}, ctx, strict=True)
    assert err.value.field == "text" and err.value.message == "line 1: 'offer' is undefined"
    nested = template_context(contact(), {"trigger": {"data": {"cart_id": "k1"}}})
    with pytest.raises(TemplateError) as err:
        render({"text": "{{ trigger.data.cart }}"}, nested, strict=True)
    assert "'trigger.data' has no attribute 'cart'" in err.value.message
    # defaults are fine in preview too
    assert render({"text": "{{ contact.nick | default('friend') }}"}, ctx, strict=True) == {"text": "friend"}


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ contact.__class__.__subclasses__() }}",
    "{{ '{0.__class__}'.format(contact) }}",
    "{{ ('a' * 200000) }}",
    "{{ 2 ** 100000 }}",
    "{% for x in range(1000000) %}{% endfor %}",
])
@pytest.mark.parametrize("strict", [False, True])
def test_sandbox_escapes_raise(source, strict):
    ctx = template_context(contact(first_name="Ann"))
    for field in ("subject", "html", "text"):
        with pytest.raises(TemplateError) as err:
            render({field: "line one\n" + source}, ctx, strict=strict)
        assert err.value.field == field
        assert err.value.message.startswith("line 2: ")
        assert "class '" not in err.value.message and "<built-in" not in err.value.message


def test_syntax_errors_carry_the_line():
    with pytest.raises(TemplateError) as err:
        render({"subject": "ok", "html": "<p>\n{% if contact.vip %}\nno end"}, {})
    assert err.value.field == "html" and err.value.message.startswith("line ")
    errors = check_syntax({"subject": "{{ oops", "html": "<p>{% for %}</p>", "text": "fine"})
    assert [e.field for e in errors] == ["subject", "html"]
    assert all(e.message.startswith("line 1: ") for e in errors)
    assert check_syntax(EMAIL) == []


def test_runtime_errors_become_template_errors():
    with pytest.raises(TemplateError) as err:
        render({"text": "a\nb\n{{ 1 / 0 }}"}, {})
    assert err.value.message == "line 3: division by zero"


def test_compiled_templates_are_cached():
    templates_module._compile.cache_clear()
    ctx = template_context(contact(first_name="Ann"))
    for _ in range(5):
        render(EMAIL, ctx)
    info = templates_module._compile.cache_info()
    assert info.misses == 3 and info.hits == 12


def test_output_size_is_capped(monkeypatch):
    monkeypatch.setattr(templates_module, "MAX_OUTPUT", 1000)
    with pytest.raises(TemplateError) as err:
        render({"text": "{% for i in range(5000) %}x{% endfor %}"}, {})
    assert "longer than 1000" in err.value.message
