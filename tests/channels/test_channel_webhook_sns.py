"""SNS message verification (api/webhooks/sns.py): the canonical string, signatures of both
versions, the certificate and SubscribeURL host rules, the topic allow-list, the replay
window, and the certificate cache. No network: certificates come from a temporary
``cert_dir`` or from an in-memory httpx transport."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from api.webhooks.sns import (SnsError, SnsVerifier, canonical_string, check_cert_url, check_subscribe_url,
                              confirm_subscription)
from tests.channels.ses_samples.sns_signing import CERT_NAME, CERT_URL, TOPIC, forger, make_signer, signer


@pytest.fixture
def verifier(tmp_path):
    return SnsVerifier(cert_dir=signer().write(tmp_path / "certs"), topic_arns=[TOPIC])


def refused(verifier: SnsVerifier, envelope) -> SnsError:
    with pytest.raises(SnsError) as caught:
        verifier.verify(envelope)
    return caught.value


def test_canonical_string_follows_the_field_order_of_each_type():
    notification = {"Type": "Notification", "MessageId": "id-1", "TopicArn": "arn:t", "Message": "hi",
                    "Timestamp": "2024-01-01T00:00:00.000Z", "SignatureVersion": "1", "UnsubscribeURL": "u"}
    assert canonical_string(notification) == (b"Message\nhi\nMessageId\nid-1\nTimestamp\n2024-01-01T00:00:00.000Z\n"
                                              b"TopicArn\narn:t\nType\nNotification\n")
    assert canonical_string({**notification, "Subject": "S"}).startswith(b"Message\nhi\nMessageId\nid-1\nSubject\nS\n")
    confirmation = {"Type": "SubscriptionConfirmation", "MessageId": "id-2", "Token": "tok", "TopicArn": "arn:t",
                    "Message": "m", "SubscribeURL": "https://s", "Timestamp": "T"}
    assert canonical_string(confirmation) == (b"Message\nm\nMessageId\nid-2\nSubscribeURL\nhttps://s\nTimestamp\nT\n"
                                              b"Token\ntok\nTopicArn\narn:t\nType\nSubscriptionConfirmation\n")


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_genuine_messages_of_both_signature_versions_verify(verifier, version, kind):
    envelope = signer().envelope(kind, '{"eventType": "Delivery"}', version=version, subject="SES event")
    assert verifier.verify(envelope) is envelope


@pytest.mark.parametrize("change", [
    {"Message": '{"eventType": "Bounce"}'},
    {"MessageId": "another-id"},
    {"TopicArn": TOPIC + "-other"},
    {"Subject": "added later"},
    {"SignatureVersion": "2"},
])
def test_an_altered_message_fails_the_signature(tmp_path, change):
    verifier = SnsVerifier(cert_dir=signer().write(tmp_path))  # no topic allow-list: the signature must catch it
    envelope = {**signer().envelope(message='{"eventType": "Delivery"}'), **change}
    assert refused(verifier, envelope).code == "bad_signature"


def test_a_signature_by_another_key_is_refused(verifier):
    error = refused(verifier, forger().envelope(message="{}"))
    assert (error.status, error.code, error.loc) == (403, "bad_signature", "Signature")


def test_a_signature_that_is_not_base64_is_refused(verifier):
    envelope = {**signer().envelope(message="{}"), "Signature": "not base64!"}
    assert refused(verifier, envelope).code == "bad_signature"


@pytest.mark.parametrize("missing", ["Signature", "SigningCertURL", "MessageId", "Timestamp", "TopicArn", "Type"])
def test_unsigned_or_incomplete_messages_are_malformed(verifier, missing):
    envelope = signer().envelope(message="{}")
    del envelope[missing]
    error = refused(verifier, envelope)
    assert error.status == 400 and error.loc == missing


@pytest.mark.parametrize("envelope", [[], "text", None, {"Type": "Notice"}])
def test_bodies_that_are_not_sns_messages_are_malformed(verifier, envelope):
    assert refused(verifier, envelope).status == 400


def test_unknown_signature_versions_are_refused(verifier):
    envelope = {**signer().envelope(message="{}"), "SignatureVersion": "3"}
    error = refused(verifier, envelope)
    assert (error.status, error.code) == (400, "unsupported_signature")


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
    "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    "https://sns.ap-southeast-2.amazonaws.com/x.pem",
])
def test_certificate_urls_on_sns_hosts_are_trusted(url):
    assert check_cert_url(url) == url.rsplit("/", 1)[1]


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/x.pem",                        # not https
    "https://sns.us-east-1.amazonaws.com.evil.io/x.pem",               # look-alike host
    "https://sns.us-east-1.amazonaws.com.cn.evil.io/x.pem",
    "https://evil.io/sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com@evil.io/x.pem",               # userinfo tricks
    "https://evil.io@sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.io/x.pem",
    "https://sns.us-east-1.amazonaws.com:8443/x.pem",                  # a port
    "https://sns.us-east-1.amazonaws.com:443/x.pem",
    "https://sns.us-east-1.amazonaws.com./x.pem",                      # trailing dot
    "https://sns.us-east-1.amazonaws.com%2eevil.io/x.pem",
    "https://sns.s3-us-west-2.amazonaws.com/x.pem",                    # an S3 bucket named "sns"
    "https://sns.s3-external-1.amazonaws.com/x.pem",
    "https://s3.amazonaws.com/sns/x.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem?download=1",            # query, fragment, paths
    "https://sns.us-east-1.amazonaws.com/x.pem#frag",
    "https://sns.us-east-1.amazonaws.com/a/x.pem",
    "https://sns.us-east-1.amazonaws.com/../x.pem",
    "https://sns.us-east-1.amazonaws.com/x.txt",
    " https://sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/x .pem",
    "",
    None,
])
def test_other_certificate_urls_are_refused(url):
    with pytest.raises(SnsError) as caught:
        check_cert_url(url)
    assert caught.value.status == 403 and caught.value.loc == "SigningCertURL"


@pytest.mark.parametrize("url", ["http://sns.us-east-1.amazonaws.com/x.pem",
                                 "https://sns.us-east-1.amazonaws.com.evil.io/x.pem",
                                 f"https://sns.eu-west-1.amazonaws.com.evil.io/{CERT_NAME}"])
def test_a_message_pointing_at_an_untrusted_certificate_is_refused_before_any_fetch(url):
    requests = []
    http = httpx.Client(transport=httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(200)))
    verifier = SnsVerifier(http=http)
    error = refused(verifier, signer().envelope(message="{}", cert_url=url))
    assert error.code == "untrusted_url" and requests == [] and verifier.fetches == 0


def test_subscribe_urls_must_be_sns_confirmations():
    good = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
    assert check_subscribe_url(good) == good
    for bad in (good.replace("https", "http"), good.replace("amazonaws.com", "amazonaws.com.evil.io"),
                good.replace("ConfirmSubscription", "Unsubscribe"), good.replace("/?", "/other?"),
                "https://evil.io/?Action=ConfirmSubscription"):
        with pytest.raises(SnsError):
            check_subscribe_url(bad)


def test_only_allowed_topics_are_accepted(verifier):
    error = refused(verifier, signer().envelope(message="{}", topic="arn:aws:sns:eu-west-1:999999999999:theirs"))
    assert (error.status, error.code, error.loc) == (403, "topic_not_allowed", "TopicArn")


def test_messages_older_than_an_hour_are_replays(verifier):
    now = dt.datetime.now(dt.UTC)
    assert verifier.verify(signer().envelope(message="{}", timestamp=now - dt.timedelta(minutes=59)))
    for when in (now - dt.timedelta(minutes=61), now - dt.timedelta(days=30), now + dt.timedelta(hours=2)):
        error = refused(verifier, signer().envelope("SubscriptionConfirmation", timestamp=when))
        assert (error.status, error.code) == (403, "stale_message")


def test_certificates_are_fetched_once_and_cached():
    requests = []

    def serve(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(200, content=signer().cert_pem)

    verifier = SnsVerifier(http=httpx.Client(transport=httpx.MockTransport(serve)))
    for _ in range(3):
        verifier.verify(signer().envelope(message="{}", version="2"))
    assert requests == [CERT_URL] and verifier.fetches == 1


def test_an_unreachable_certificate_is_a_gateway_error():
    verifier = SnsVerifier(http=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404))))
    error = refused(verifier, signer().envelope(message="{}"))
    assert (error.status, error.code) == (502, "certificate_unavailable")


def test_a_certificate_missing_from_the_trusted_directory_is_refused(tmp_path):
    verifier = SnsVerifier(cert_dir=tmp_path)
    assert refused(verifier, signer().envelope(message="{}")).code == "untrusted_certificate"


def test_an_expired_certificate_is_refused(tmp_path):
    old = make_signer(valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=10), valid_days=2)
    verifier = SnsVerifier(cert_dir=old.write(tmp_path))
    assert refused(verifier, old.envelope(message="{}")).code == "untrusted_certificate"


def test_confirming_visits_the_subscribe_url_only_when_it_is_an_sns_url():
    visited = []
    http = httpx.Client(transport=httpx.MockTransport(lambda r: visited.append(str(r.url)) or httpx.Response(200)))
    good = signer().envelope("SubscriptionConfirmation")
    confirm_subscription(good, http)
    assert visited == [good["SubscribeURL"]]
    with pytest.raises(SnsError) as caught:
        confirm_subscription({**good, "SubscribeURL": "https://evil.io/?Action=ConfirmSubscription"}, http)
    assert caught.value.status == 403 and visited == [good["SubscribeURL"]]
    failing = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(403)))
    with pytest.raises(SnsError) as caught:
        confirm_subscription(good, failing)
    assert (caught.value.status, caught.value.code) == (502, "confirmation_failed")
