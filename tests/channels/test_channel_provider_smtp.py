"""The SMTP provider against a local aiosmtpd server: plain, STARTTLS with AUTH and
implicit TLS (self-signed certificate made in the test), the MIME that arrives, and
how refusals and broken connections are classified."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.providers.base import OutgoingMessage, PermanentError, TransientError
from engine.providers.smtp import SmtpProvider, build_email, message_id_header
from tests.support import free_port

FROM = "Acme News <news@acme.test>"


def message(**extra) -> OutgoingMessage:
    fields = dict(message_id="m_5f3a9c", workspace="acme", contact_id="c1", channel="email",
                  to="ann@example.com", subject="Grüße, Ann", text="Hello Ann", html="<p>Hello <b>Ann</b></p>",
                  headers={"List-Unsubscribe": "<https://sb.example/u/m_5f3a9c>",
                           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    fields.update(extra)
    return OutgoingMessage(**fields)


class Inbox:
    """An aiosmtpd handler that keeps what arrives and refuses some recipients."""

    def __init__(self):
        self.mails: list[dict] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@"):
            return "451 4.3.2 Mailbox busy, try again later"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                           "tls": server.transport.get_extra_info("ssl_object") is not None,
                           "user": _user(session),
                           "email": message_from_bytes(envelope.original_content, policy=policy.default)})
        return "250 Message accepted"


def _user(session) -> str | None:
    data = session.auth_data
    return data.login.decode() if isinstance(data, LoginPassword) else None


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"relay", b"s3cret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def trusting(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def smtp_server():
    """Start an aiosmtpd server with the given options; returns (inbox, port)."""
    controllers = []

    def start(**options):
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return inbox, controller.port

    yield start
    for controller in controllers:
        controller.stop()


def test_plain_smtp_delivers_multipart_alternative_with_our_headers(smtp_server):
    inbox, port = smtp_server()
    provider = SmtpProvider("127.0.0.1", FROM, port=port, security="none")

    receipt = provider.send(message())

    assert receipt.provider == "smtp"
    assert receipt.provider_message_id == "<m_5f3a9c@acme.test>"
    (mail,) = inbox.mails
    assert mail["from"] == "news@acme.test" and mail["to"] == ["ann@example.com"] and not mail["tls"]
    email = mail["email"]
    assert email.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]
    assert email.get_body(("plain",)).get_content().strip() == "Hello Ann"
    assert email.get_body(("html",)).get_content().strip() == "<p>Hello <b>Ann</b></p>"
    assert email["Subject"] == "Grüße, Ann"
    assert email["From"] == FROM and email["To"] == "ann@example.com"
    assert email["Message-ID"] == receipt.provider_message_id
    assert email["X-Switchback-Message-Id"] == "m_5f3a9c"
    assert email["List-Unsubscribe"] == "<https://sb.example/u/m_5f3a9c>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["Date"]


def test_starttls_with_auth(smtp_server, certificate):
    inbox, port = smtp_server(tls_context=server_context(certificate), require_starttls=True,
                              authenticator=authenticator, auth_required=True)
    provider = SmtpProvider("127.0.0.1", FROM, port=port, security="starttls", username="relay",
                            password="s3cret", ssl_context=trusting(certificate))
    provider.send(message(html=None))
    (mail,) = inbox.mails
    assert mail["tls"] and mail["user"] == "relay"
    assert mail["email"].get_content_type() == "text/plain"
    assert "s3cret" not in repr(provider)


def test_wrong_password_is_permanent(smtp_server, certificate):
    _, port = smtp_server(tls_context=server_context(certificate), authenticator=authenticator, auth_required=True)
    provider = SmtpProvider("127.0.0.1", FROM, port=port, username="relay", password="wrong",
                            ssl_context=trusting(certificate))
    with pytest.raises(PermanentError, match="smtp authentication failed: 535") as failure:
        provider.send(message())
    assert "wrong" not in str(failure.value)


def test_implicit_tls(smtp_server, certificate):
    inbox, port = smtp_server(ssl_context=server_context(certificate))
    provider = SmtpProvider("127.0.0.1", FROM, port=port, security="ssl", ssl_context=trusting(certificate))
    provider.send(message(text=None))
    (mail,) = inbox.mails
    assert mail["tls"]
    assert mail["email"].get_content_type() == "text/html"


def test_untrusted_certificate_is_permanent(smtp_server, certificate):
    _, port = smtp_server(tls_context=server_context(certificate))
    provider = SmtpProvider("127.0.0.1", FROM, port=port, security="starttls")  # system CAs only
    with pytest.raises(PermanentError, match="certificate"):
        provider.send(message())


def test_starttls_not_offered_is_permanent(smtp_server):
    _, port = smtp_server()
    with pytest.raises(PermanentError, match="STARTTLS"):
        SmtpProvider("127.0.0.1", FROM, port=port, security="starttls").send(message())


def test_refused_recipients_4xx_transient_5xx_permanent(smtp_server):
    inbox, port = smtp_server()
    provider = SmtpProvider("127.0.0.1", FROM, port=port, security="none")
    with pytest.raises(TransientError, match="451 4.3.2 Mailbox busy"):
        provider.send(message(to="busy@example.com"))
    with pytest.raises(PermanentError, match="550 5.1.1 No such user"):
        provider.send(message(to="nobody@example.com"))
    assert inbox.mails == []


def test_connection_refused_is_transient():
    provider = SmtpProvider("127.0.0.1", FROM, port=free_port(), security="none", timeout=2)
    with pytest.raises(TransientError, match="smtp connection problem"):
        provider.send(message())


def test_header_injection_and_bodyless_email_are_refused():
    with pytest.raises(PermanentError, match="invalid header"):
        build_email(message(headers={"X-Note": "hi\r\nBcc: all@example.com"}), FROM)
    with pytest.raises(PermanentError, match="neither a text nor an HTML part"):
        build_email(message(text=None, html=None), FROM)
    with pytest.raises(PermanentError, match="set by the provider"):
        build_email(message(headers={"From": "ceo@example.com"}), FROM)


def test_message_id_is_derived_from_ours():
    assert message_id_header("m_5f3a9c", "acme.test") == "<m_5f3a9c@acme.test>"
    assert message_id_header("a b<c>@d", "x.test") == "<a_b_c__d@x.test>"
    email = build_email(message(), FROM, domain="mail.acme.test")
    assert email["Message-ID"] == "<m_5f3a9c@mail.acme.test>"


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="security"):
        SmtpProvider("h", FROM, security="tls")
    with pytest.raises(ValueError, match="together"):
        SmtpProvider("h", FROM, username="u")
    assert SmtpProvider("h", FROM, security="ssl").port == 465
    assert SmtpProvider("h", FROM).port == 587
