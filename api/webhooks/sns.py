"""Amazon SNS message verification: is this POST really from SNS, about our topic, and recent?

SNS cannot send an API key, so the signature is the authentication of ``POST /webhooks/ses``.
What is checked, in this order (AWS guide "Verifying the signatures of Amazon SNS messages"):

1. shape: ``Type`` is ``Notification``, ``SubscriptionConfirmation`` or
   ``UnsubscribeConfirmation`` and every field that type signs is a string (``Subject`` is
   optional); ``SignatureVersion`` is ``1`` (SHA1withRSA) or ``2`` (SHA256withRSA);
2. ``TopicArn`` is in the allow-list, when one is configured (``SWITCHBACK_SNS_TOPIC_ARNS``);
3. ``Timestamp`` is at most an hour old (and not from the future): a replay is refused;
4. ``SigningCertURL`` is exactly ``https://sns.<region>.amazonaws.com[.cn]/<name>.pem``: no
   other scheme, host, port, user info, query or path segments (look-alike hosts such as
   ``sns.us-east-1.amazonaws.com.evil.io`` do not match);
5. the certificate (fetched once per URL and cached, or read from ``sns_cert_dir`` in tests)
   is valid now and holds an RSA key; the signature over the canonical string verifies.

A ``SubscribeURL`` passes the same host rules (path ``/``, ``Action=ConfirmSubscription``)
before it is visited. The pure checks are functions; :class:`SnsVerifier` holds the
certificate cache and the fetcher.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import SplitResult, parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_SIGNED_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# the fields each message type signs, in the order of the canonical string
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _SIGNED_CONFIRMATION,
    "UnsubscribeConfirmation": _SIGNED_CONFIRMATION,
}
OPTIONAL_FIELDS = frozenset({"Subject"})
SIGNATURE_VERSIONS = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_AGE = 3600.0  # seconds: older messages are replays
MAX_SKEW = 900.0  # seconds a Timestamp may be ahead of our clock
MAX_CERT_BYTES = 64 * 1024

# sns.<region>.amazonaws.com or .amazonaws.com.cn. A region is a two-letter area, words and a
# number (us-east-1, us-gov-west-1, cn-north-1): legacy S3 hosts of a bucket named "sns"
# (sns.s3-us-west-2.amazonaws.com, sns.s3-external-1.amazonaws.com) do not match.
_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com(?:\.cn)?")
_CERT_PATH = re.compile(r"/[A-Za-z0-9_\-]+\.pem")
_URL_CHARS = re.compile(r"[!-~]+")  # printable ASCII, no spaces or control characters


class SnsError(Exception):
    """A refused SNS message. ``status`` is the HTTP status to answer with (400 for a
    malformed message, 403 for one that is not trusted, 502 when the certificate or the
    confirmation URL could not be reached); ``loc`` names the offending field."""

    def __init__(self, status: int, code: str, message: str, loc: str = "body"):
        super().__init__(message)
        self.status, self.code, self.message, self.loc = status, code, message, loc


def check_shape(message: Any) -> dict[str, Any]:
    """The message, if it is an SNS message of a known type with every signed field."""
    if not isinstance(message, dict):
        raise SnsError(400, "malformed_sns", "the body must be a JSON object (an SNS message)")
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise SnsError(400, "malformed_sns", f"Type must be one of {', '.join(SIGNED_FIELDS)}", "Type")
    for name in (*SIGNED_FIELDS[kind], "Signature", "SignatureVersion", "SigningCertURL"):
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str) or (not value and name != "Message"):
            raise SnsError(400, "malformed_sns", f"{name} is required (a string) in an SNS {kind}", name)
    if message["SignatureVersion"] not in SIGNATURE_VERSIONS:
        raise SnsError(400, "unsupported_signature", "SignatureVersion must be 1 (SHA1withRSA) or 2 (SHA256withRSA)",
                       "SignatureVersion")
    return message


def canonical_string(message: dict[str, Any]) -> bytes:
    """The bytes SNS signs: ``name\\nvalue\\n`` for each signed field of the message's type,
    in order; an absent optional field (``Subject``) is left out."""
    out = []
    for name in SIGNED_FIELDS[message["Type"]]:
        value = message.get(name)
        if value is None:
            continue
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def _sns_url(url: Any, field: str) -> SplitResult:
    if not isinstance(url, str) or not _URL_CHARS.fullmatch(url) or "\\" in url:
        raise SnsError(403, "untrusted_url", f"{field} is not a plain https URL", field)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise SnsError(403, "untrusted_url", f"{field} must use https", field)
    # the whole authority must be the host: no user info, no port, no look-alike suffix
    if not _HOST.fullmatch(parts.netloc):
        raise SnsError(403, "untrusted_url", f"{field} must point at sns.<region>.amazonaws.com", field)
    if parts.fragment:
        raise SnsError(403, "untrusted_url", f"{field} must not have a fragment", field)
    return parts


def check_cert_url(url: Any) -> str:
    """The certificate's file name, if ``url`` is ``https://sns.<region>.amazonaws.com[.cn]/<name>.pem``."""
    parts = _sns_url(url, "SigningCertURL")
    if parts.query or not _CERT_PATH.fullmatch(parts.path):
        raise SnsError(403, "untrusted_url", "SigningCertURL must be a .pem file at the root of the SNS host",
                       "SigningCertURL")
    return parts.path[1:]


def check_subscribe_url(url: Any) -> str:
    """``url`` itself, if it is an SNS ``ConfirmSubscription`` URL on an SNS host."""
    parts = _sns_url(url, "SubscribeURL")
    if parts.path != "/" or parse_qs(parts.query).get("Action") != ["ConfirmSubscription"]:
        raise SnsError(403, "untrusted_url", "SubscribeURL must be an SNS ConfirmSubscription URL", "SubscribeURL")
    return url


def check_topic(message: dict[str, Any], topic_arns: Iterable[str]) -> None:
    allowed = set(topic_arns)
    if allowed and message["TopicArn"] not in allowed:
        raise SnsError(403, "topic_not_allowed", "this SNS topic is not in SWITCHBACK_SNS_TOPIC_ARNS", "TopicArn")


def check_fresh(message: dict[str, Any], now: float, max_age: float = MAX_AGE) -> None:
    """Refuse a message whose ``Timestamp`` is older than ``max_age`` seconds (a replay)."""
    try:
        stamp = datetime.fromisoformat(message["Timestamp"])
    except ValueError:
        raise SnsError(400, "malformed_sns", "Timestamp is not an ISO 8601 time", "Timestamp") from None
    if stamp.tzinfo is None:
        raise SnsError(400, "malformed_sns", "Timestamp must carry a time zone (Z)", "Timestamp")
    age = now - stamp.timestamp()
    if age > max_age:
        raise SnsError(403, "stale_message", f"the message is {int(age)} s old; older than {int(max_age)} s "
                       "is refused as a replay", "Timestamp")
    if age < -MAX_SKEW:
        raise SnsError(403, "stale_message", "the message's Timestamp is in the future", "Timestamp")


def verify_signature(message: dict[str, Any], public_key: rsa.RSAPublicKey) -> None:
    """Check ``Signature`` (base64, PKCS#1 v1.5) over the canonical string."""
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SnsError(403, "bad_signature", "Signature is not base64", "Signature") from None
    algorithm = SIGNATURE_VERSIONS[message["SignatureVersion"]]()
    try:
        public_key.verify(signature, canonical_string(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SnsError(403, "bad_signature", "the SNS signature does not match the message", "Signature") from None


def load_public_key(pem: bytes, now: float) -> rsa.RSAPublicKey:
    """The RSA key of a PEM certificate that is valid at ``now``."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SnsError(403, "untrusted_certificate", "the signing certificate is not a PEM certificate",
                       "SigningCertURL") from None
    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        raise SnsError(403, "untrusted_certificate", "the signing certificate has expired or is not valid yet",
                       "SigningCertURL")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsError(403, "untrusted_certificate", "the signing certificate does not hold an RSA key",
                       "SigningCertURL")
    return key


class SnsVerifier:
    """Verifies SNS messages; caches signing certificates by URL.

    ``cert_dir`` (tests only): read ``<cert_dir>/<file name of the URL>`` instead of fetching;
    the URL must still pass the host check. ``http``: the client certificates are fetched
    with (one is made when absent). ``clock``: epoch seconds, for the replay window and the
    certificate's validity.
    """

    def __init__(self, *, cert_dir: Path | None = None, topic_arns: Iterable[str] = (),
                 http: httpx.Client | None = None, timeout: float = 5.0, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.time, cache_size: int = 32):
        self.cert_dir = Path(cert_dir) if cert_dir else None
        self.topic_arns = frozenset(topic_arns)
        self.timeout, self.max_age, self.clock, self.cache_size = timeout, max_age, clock, cache_size
        self._http = http
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()
        self.fetches = 0  # certificates fetched or read (for tests and diagnostics)

    def verify(self, message: Any) -> dict[str, Any]:
        """The message if it is a genuine, recent SNS message for an allowed topic; else SnsError."""
        message = check_shape(message)
        check_topic(message, self.topic_arns)
        now = self.clock()
        check_fresh(message, now, self.max_age)
        file_name = check_cert_url(message["SigningCertURL"])
        verify_signature(message, self.public_key(message["SigningCertURL"], file_name, now))
        return message

    def public_key(self, url: str, file_name: str, now: float) -> rsa.RSAPublicKey:
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
                return key
        key = load_public_key(self._certificate(url, file_name), now)
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > self.cache_size:
                self._keys.popitem(last=False)
        return key

    def _certificate(self, url: str, file_name: str) -> bytes:
        self.fetches += 1
        if self.cert_dir is not None:
            path = self.cert_dir / file_name
            if not path.is_file():
                raise SnsError(403, "untrusted_certificate", f"no trusted certificate named {file_name} in the "
                               "configured sns_cert_dir", "SigningCertURL")
            return path.read_bytes()
        try:
            response = self.http.get(url, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise SnsError(502, "certificate_unavailable", f"could not fetch the signing certificate: "
                           f"{type(exc).__name__}", "SigningCertURL") from None
        if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
            raise SnsError(502, "certificate_unavailable", f"fetching the signing certificate answered "
                           f"{response.status_code}", "SigningCertURL")
        return response.content

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._http


def confirm_subscription(message: dict[str, Any], http: httpx.Client, timeout: float = 10.0) -> None:
    """Visit a verified SubscriptionConfirmation's ``SubscribeURL`` (after the host check)."""
    url = check_subscribe_url(message.get("SubscribeURL"))
    try:
        response = http.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SnsError(502, "confirmation_failed", f"could not confirm the subscription: {type(exc).__name__}",
                       "SubscribeURL") from None
    if response.status_code != 200:
        raise SnsError(502, "confirmation_failed", f"confirming the subscription answered {response.status_code}",
                       "SubscribeURL")
