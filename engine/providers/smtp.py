"""The ``smtp`` email provider: any SMTP relay (a company mail server, Postfix,
Mailgun/Postmark/SendGrid SMTP endpoints) through the standard library.

Each message is one MIME email: ``multipart/alternative`` with a text and an HTML
part (or a single part when the template has only one), our headers
(List-Unsubscribe, List-Unsubscribe-Post), ``X-Switchback-Message-Id`` and a
``Message-ID`` derived from our ``message_id`` (so the same message always carries
the same Message-ID; the receipt's ``provider_message_id`` is that header value).

Security: ``starttls`` (default, port 587), ``ssl`` (implicit TLS, port 465) or
``none`` (port 25; only for a relay on a trusted network). Optional AUTH with a
username and password. One connection per message, closed afterwards.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

from engine.providers.base import OutgoingMessage, PermanentError, Receipt
from engine.providers.errors import classify_smtp_error

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
ID_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]")


def message_id_header(message_id: str, domain: str) -> str:
    """``<message_id@domain>``, with characters a Message-ID cannot hold replaced by ``_``."""
    left = ID_UNSAFE.sub("_", message_id).strip(".") or "_"
    return f"<{left}@{domain}>"


def build_email(message: OutgoingMessage, from_address: str, domain: str | None = None) -> EmailMessage:
    """The MIME email for a message (pure). ``domain`` names the right side of the
    Message-ID; by default the from address's domain."""
    if not (message.text or message.html):
        raise PermanentError("email has neither a text nor an HTML part")
    domain = domain or parseaddr(from_address)[1].rpartition("@")[2] or "switchback.invalid"
    email = EmailMessage()
    try:
        email["From"] = from_address
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id_header(message.message_id, domain)
        email["X-Switchback-Message-Id"] = message.message_id
        for name, value in message.headers.items():
            if name.lower() in {"from", "to", "subject", "date", "message-id"}:
                raise PermanentError(f"smtp: header {name} is set by the provider")
            email[name] = value
    except ValueError as exc:  # a line break in a header value, a malformed address
        raise PermanentError(f"smtp: invalid header: {exc}") from exc
    if message.text and message.html:
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
    elif message.html:
        email.set_content(message.html, subtype="html")
    else:
        email.set_content(message.text)
    return email


class SmtpProvider:
    name = "smtp"

    def __init__(self, host: str, from_address: str, *, port: int | None = None, security: Security = "starttls",
                 username: str | None = None, password: str | None = None, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None, message_id_domain: str | None = None,
                 local_hostname: str | None = None):
        """``ssl_context``: how the server's certificate is checked (default: the system's
        trusted CAs and the host name). ``username`` and ``password`` go together."""
        if security not in DEFAULT_PORTS:
            raise ValueError(f"SMTP security must be one of {', '.join(DEFAULT_PORTS)}, not {security!r}")
        if bool(username) != bool(password):
            raise ValueError("SMTP username and password go together")
        if not parseaddr(from_address)[1]:
            raise ValueError(f"SMTP from address {from_address!r} is not an email address")
        self.host, self.from_address, self.security = host, from_address, security
        self.port = port or DEFAULT_PORTS[security]
        self.username, self._password = username, password
        self.timeout, self.message_id_domain, self.local_hostname = timeout, message_id_domain, local_hostname
        self.ssl_context = ssl_context

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpProvider({self.host}:{self.port}, security={self.security}, user={self.username!r})"

    def send(self, message: OutgoingMessage) -> Receipt:
        email = build_email(message, self.from_address, self.message_id_domain)
        envelope_from = parseaddr(self.from_address)[1]
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(email, from_addr=envelope_from, to_addrs=[message.to])
        except (smtplib.SMTPException, OSError) as exc:
            raise classify_smtp_error(exc) from exc
        return Receipt(provider=self.name, provider_message_id=email["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp
