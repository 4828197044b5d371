"""Test helpers for the SES webhook: a self-signed "SNS" signing certificate, SNS envelopes
signed with it (SignatureVersion 1 or 2), and the SES sample bodies of this folder.

The string to sign is written out here from the AWS SNS guide, independently of
``api.webhooks.sns.canonical_string``, so a mistake there shows up as a failing test.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SAMPLES = Path(__file__).resolve().parent
CERT_NAME = "SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
CERT_URL = f"https://sns.eu-west-1.amazonaws.com/{CERT_NAME}"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:switchback-ses-events"
OUR_MESSAGE_ID = "m_5f1e2d3c4b5a69788796a5b4"  # the message_id tag in the event-* samples
SES_MESSAGE_ID = "0100018f2c9a3b7e-5d2c41a8-7e3b-4f0a-9c55-1b2e3d4f5a6b-000000"  # their mail.messageId

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def sample(name: str) -> dict[str, Any]:
    """An SES body from this folder, e.g. ``sample("event-bounce")``."""
    return orjson.loads((SAMPLES / f"{name}.json").read_bytes())


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    fields = NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope).encode()


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Signer:
    key: rsa.RSAPrivateKey
    cert_pem: bytes

    def write(self, directory: Path, name: str = CERT_NAME) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(self.cert_pem)
        return directory

    def sign(self, envelope: dict[str, Any]) -> dict[str, Any]:
        algorithm = hashes.SHA1() if envelope["SignatureVersion"] == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        return {**envelope, "Signature": base64.b64encode(signature).decode()}

    def envelope(self, kind: str = "Notification", message: str = "", *, version: str = "1", topic: str = TOPIC,
                 cert_url: str = CERT_URL, timestamp: dt.datetime | None = None, message_id: str | None = None,
                 subject: str | None = None, subscribe_url: str | None = None) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "Type": kind, "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic, "Message": message,
            "Timestamp": iso(timestamp or dt.datetime.now(dt.UTC)), "SignatureVersion": version,
            "SigningCertURL": cert_url,
        }
        if subject is not None:
            envelope["Subject"] = subject
        if kind == "Notification":
            envelope["UnsubscribeURL"] = (f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
                                          f"&SubscriptionArn={topic}:0b9d4f2e-1c3a-4e5f-8a7b-6c5d4e3f2a1b")
        else:
            token = "2336412f37fb687f5d51e6e2425a8a5873ab8a1c7a9f0e3d"
            envelope["Token"] = token
            envelope["SubscribeURL"] = subscribe_url or (
                f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}")
            envelope["Message"] = message or (f"You have chosen to subscribe to the topic {topic}.\nTo confirm the "
                                              "subscription, visit the SubscribeURL included in this message.")
        return self.sign(envelope)

    def notification(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """An SNS Notification carrying an SES body (as SES publishes it: JSON text)."""
        return self.envelope("Notification", orjson.dumps(body).decode(), **kwargs)


def make_signer(valid_from: dt.datetime | None = None, valid_days: int = 2) -> Signer:
    """A new RSA key and a self-signed certificate (no CA) valid from ``valid_from``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    start = valid_from or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=valid_days)).sign(key, hashes.SHA256()))
    return Signer(key, cert.public_bytes(serialization.Encoding.PEM))


@functools.cache
def signer() -> Signer:
    """The trusted test signer (one key per test process: key generation is slow)."""
    return make_signer()


@functools.cache
def forger() -> Signer:
    """Another key: what an attacker without SNS's key can sign with."""
    return make_signer()
