"""Channel providers behind one port: ``send(message) -> receipt``.

A provider must be idempotent by ``message.message_id`` (the sender may retry after a
crash). ``outbox`` captures messages locally (the default, and the test double for
everything above this layer); SES, SMTP and Twilio arrive with the channels issue.
"""

from engine.providers.base import OutgoingMessage, PermanentError, Provider, Receipt, TransientError
from engine.providers.outbox import OutboxProvider

__all__ = ["OutboxProvider", "OutgoingMessage", "PermanentError", "Provider", "Receipt", "TransientError"]
