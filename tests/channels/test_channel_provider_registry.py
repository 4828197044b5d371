"""Provider selection from environment variables: defaults, global providers,
per-workspace overrides (SWITCHBACK_CHANNELS), rate limits, retries, and clear errors
naming the missing variable."""

from __future__ import annotations

import json

import pytest

from engine.providers.base import OutgoingMessage, TransientError
from engine.providers.outbox import OutboxProvider
from engine.providers.registry import ChannelSettings, ProviderConfigError, ProviderRegistry
from engine.providers.retry import DeliveryFailed
from engine.providers.ses import SesProvider
from engine.providers.smtp import SmtpProvider
from engine.providers.twilio import TwilioProvider

SES = {"SWITCHBACK_EMAIL_PROVIDER": "ses", "SWITCHBACK_SES_REGION": "eu-west-1",
       "SWITCHBACK_SES_FROM": "news@acme.test", "SWITCHBACK_SES_CONFIGURATION_SET": "switchback-events"}
TWILIO = {"SWITCHBACK_SMS_PROVIDER": "twilio", "SWITCHBACK_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
          "SWITCHBACK_TWILIO_AUTH_TOKEN": "tw-secret", "SWITCHBACK_TWILIO_SMS_FROM": "+15005550006",
          "SWITCHBACK_TWILIO_WHATSAPP_FROM": "+14155238886"}


@pytest.fixture
def outbox(tmp_path):
    return OutboxProvider(tmp_path / "outbox.db")


def registry(env, outbox, public_url="https://sb.example/"):
    return ProviderRegistry(env, outbox, public_url)


def test_outbox_is_the_default_for_every_channel(outbox):
    providers = registry({}, outbox)
    assert all(providers.get("acme", channel) is outbox for channel in ("email", "sms", "whatsapp"))
    with pytest.raises(ProviderConfigError, match="unknown channel 'fax'"):
        providers.get("acme", "fax")


def test_global_providers_with_their_settings(outbox):
    providers = registry({**SES, **TWILIO}, outbox)
    ses = providers.get("acme", "email")
    assert isinstance(ses, SesProvider)
    assert (ses.from_address, ses.configuration_set) == ("news@acme.test", "switchback-events")
    assert ses.client.meta.region_name == "eu-west-1"
    sms, whatsapp = providers.get("acme", "sms"), providers.get("acme", "whatsapp")
    assert isinstance(sms, TwilioProvider) and whatsapp is sms  # WhatsApp follows SMS, one client
    assert sms.public_url == "https://sb.example" and sms.whatsapp_from == "+14155238886"
    assert providers.get("other", "email") is ses  # same settings: same provider


def test_whatsapp_can_differ_from_sms(outbox):
    providers = registry({**TWILIO, "SWITCHBACK_WHATSAPP_PROVIDER": "outbox"}, outbox)
    assert isinstance(providers.get("acme", "sms"), TwilioProvider)
    assert providers.get("acme", "whatsapp") is outbox


def test_per_workspace_override(outbox):
    channels = {"acme": {"email_provider": "smtp", "smtp_host": "mail.acme.test", "smtp_from": "news@acme.test",
                         "smtp_security": "ssl", "smtp_username": "relay", "smtp_password": "pw"},
                "beta": {"ses_from": "hello@beta.test"}}
    providers = registry({**SES, "SWITCHBACK_CHANNELS": json.dumps(channels)}, outbox)
    acme = providers.get("acme", "email")
    assert isinstance(acme, SmtpProvider) and (acme.host, acme.port, acme.security) == ("mail.acme.test", 465, "ssl")
    beta = providers.get("beta", "email")
    assert isinstance(beta, SesProvider) and beta.from_address == "hello@beta.test"
    assert beta.configuration_set == "switchback-events"  # inherited from the global settings
    other = providers.get("gamma", "email")
    assert isinstance(other, SesProvider) and other.from_address == "news@acme.test" and other is not beta
    assert providers.get("acme", "sms") is outbox
    assert providers.provider_name("acme", "email") == "smtp"


def test_missing_settings_name_the_variable(outbox):
    with pytest.raises(ProviderConfigError) as error:
        registry({"SWITCHBACK_EMAIL_PROVIDER": "ses", "SWITCHBACK_SES_REGION": "eu-west-1",
                  "SWITCHBACK_SMS_PROVIDER": "twilio", "SWITCHBACK_TWILIO_ACCOUNT_SID": "AC1"}, outbox)
    text = str(error.value)
    assert "ses is selected but SWITCHBACK_SES_FROM is not set" in text
    assert "SWITCHBACK_TWILIO_AUTH_TOKEN is not set" in text
    assert "SWITCHBACK_TWILIO_SMS_FROM or SWITCHBACK_TWILIO_MESSAGING_SERVICE_SID" in text
    assert "SWITCHBACK_TWILIO_WHATSAPP_FROM" in text
    assert "SWITCHBACK_SES_REGION is not set" not in text


def test_missing_workspace_settings_name_the_override(outbox):
    channels = {"acme": {"email_provider": "smtp", "smtp_host": "mail.acme.test"}}
    with pytest.raises(ProviderConfigError, match=r'workspace acme: smtp is selected but SWITCHBACK_SMTP_FROM '
                                                  r'\(or "smtp_from" in SWITCHBACK_CHANNELS.acme\) is not set'):
        registry({"SWITCHBACK_CHANNELS": json.dumps(channels)}, outbox)
    lazy = ProviderRegistry({"SWITCHBACK_CHANNELS": json.dumps(channels)}, outbox, "http://x", check=False)
    assert lazy.get("beta", "email") is outbox
    with pytest.raises(ProviderConfigError, match="SWITCHBACK_SMTP_FROM"):
        lazy.get("acme", "email")


def test_malformed_settings_name_the_variable(outbox):
    with pytest.raises(ProviderConfigError, match="SWITCHBACK_EMAIL_PROVIDER: Input should be 'outbox', 'ses'"):
        registry({"SWITCHBACK_EMAIL_PROVIDER": "mailchimp"}, outbox)
    with pytest.raises(ProviderConfigError, match="SWITCHBACK_CHANNELS must be a JSON object"):
        registry({"SWITCHBACK_CHANNELS": "{acme"}, outbox)
    with pytest.raises(ProviderConfigError, match=r"SWITCHBACK_CHANNELS.acme.smtp_port: Input should be a valid"):
        registry({"SWITCHBACK_CHANNELS": '{"acme": {"smtp_port": "many"}}'}, outbox)
    with pytest.raises(ProviderConfigError, match=r"SWITCHBACK_CHANNELS.acme.smtp_hots: Extra inputs"):
        registry({"SWITCHBACK_CHANNELS": '{"acme": {"smtp_hots": "typo"}}'}, outbox)
    with pytest.raises(ProviderConfigError, match="SWITCHBACK_SEND_ATTEMPTS"):
        registry({"SWITCHBACK_SEND_ATTEMPTS": "0"}, outbox)


def test_secrets_stay_out_of_reprs_and_errors(outbox):
    env = {**TWILIO, "SWITCHBACK_EMAIL_PROVIDER": "smtp", "SWITCHBACK_SMTP_HOST": "h",
           "SWITCHBACK_SMTP_FROM": "a@b.test", "SWITCHBACK_SMTP_USERNAME": "u", "SWITCHBACK_SMTP_PASSWORD": "pw-secret"}
    providers = registry(env, outbox)
    shown = repr(providers.settings) + repr(providers.get("x", "email")) + repr(providers.get("x", "sms"))
    assert "pw-secret" not in shown and "tw-secret" not in shown
    with pytest.raises(ProviderConfigError) as error:
        registry({**env, "SWITCHBACK_SMTP_PORT": "pw-secret"}, outbox)
    assert "pw-secret" not in str(error.value)


def test_reads_the_process_environment(outbox, monkeypatch):
    for name, value in SES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SWITCHBACK_SES_PER_MINUTE", "840")
    providers = ProviderRegistry(None, outbox, "http://x")
    assert isinstance(providers.get("acme", "email"), SesProvider)
    assert ChannelSettings.from_env().ses_per_minute == 840


def test_limits(outbox):
    env = {**SES, "SWITCHBACK_SES_PER_MINUTE": "840",
           "SWITCHBACK_CHANNELS": '{"acme": {"campaign_email_per_minute": 0, "campaign_sms_per_minute": 30}}'}
    providers = registry(env, outbox)
    email = providers.limits("beta", "email", "welcome")
    assert [(b.name, b.per_minute, b.burst) for b in email] == [
        ("provider:beta:ses", 840, 14), ("campaign:beta:welcome:email", 100, 2)]
    assert [(b.name, b.per_minute, b.burst) for b in providers.limits("beta", "sms", "welcome")] == [
        ("campaign:beta:welcome:sms", 10, 1)]
    assert [(b.name, b.per_minute) for b in providers.limits("beta", "whatsapp", "b1", per_minute=25)] == [
        ("campaign:beta:b1:whatsapp", 25)]
    assert [b.name for b in providers.limits("acme", "email", "welcome")] == ["provider:acme:ses"]  # 0: no limit
    assert [(b.name, b.per_minute) for b in providers.limits("acme", "whatsapp", "w")] == [
        ("campaign:acme:w:whatsapp", 30)]  # WhatsApp follows the SMS rate
    assert providers.limits("beta", "sms") == []  # not part of a campaign, outbox without a limit


def test_send_uses_the_workspace_retry_policy(outbox):
    class Busy:
        name, calls = "busy", 0

        def send(self, message):
            Busy.calls += 1
            raise TransientError("busy")

    providers = registry({"SWITCHBACK_CHANNELS": '{"acme": {"send_attempts": 2, "retry_base_delay": 0.5}}'}, outbox)
    assert providers.retry_options("acme") == {"attempts": 2, "base_delay": 0.5, "max_delay": 30.0}
    assert providers.retry_options("beta")["attempts"] == 3
    providers.get = lambda workspace, channel: Busy()
    sleeps: list[float] = []
    message = OutgoingMessage(message_id="m", workspace="acme", contact_id="c", channel="email", to="a@b.c", text="t")
    with pytest.raises(DeliveryFailed) as failure:
        providers.send(message, sleep=sleeps.append, random=lambda: 1.0)
    assert (failure.value.attempts, Busy.calls, sleeps) == (2, 2, [0.5])
    receipt = registry({}, outbox).send(message)
    assert receipt.provider == "outbox" and outbox.count("acme") == 1
