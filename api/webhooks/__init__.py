"""Provider webhooks: what SES (through SNS) and Twilio report about our messages becomes
events in the log. The routes live in ``api/routes/webhooks.py``; this package holds the
parts that decide without doing I/O, plus the SNS verifier and the read-model look-ups.

- ``sns``: SNS signature, certificate URL, topic and replay checks; :class:`SnsVerifier`.
- ``ses_events``: an SES event or notification -> our ``message.*`` / ``contact.*`` event.
- ``twilio_events``: a Twilio status callback or inbound keyword -> our events.
- ``lookup``: which message (``messages``) or contacts (``contacts.phone``) a report is about.

See docs/channels/webhooks.md.
"""

from api.webhooks.lookup import SentMessage, find_contacts_by_phone, find_message
from api.webhooks.sns import SnsError, SnsVerifier, confirm_subscription

__all__ = ["SentMessage", "SnsError", "SnsVerifier", "confirm_subscription", "find_contacts_by_phone",
           "find_message"]
