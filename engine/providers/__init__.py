"""Channel providers behind one port: ``send(message) -> receipt``.

A provider must be idempotent by ``message.message_id`` (the sender may retry after a
crash). ``outbox`` captures messages locally (the default, and the test double for
everything above this layer); SES, SMTP and Twilio arrive with the channels issue.
"""

from engine.providers.base import OutgoingMessage, PermanentError, Provider, Receipt, TransientError
from engine.providers.outbox import OutboxProvider
from engine.providers.registry import ChannelSettings, ProviderConfigError, ProviderRegistry
from engine.providers.retry import DeliveryFailed, send_with_retry

# SesProvider, SmtpProvider and TwilioProvider live in their modules (imported on demand:
# boto3 and the twilio SDK are slow to import).
__all__ = ["ChannelSettings", "DeliveryFailed", "OutboxProvider", "OutgoingMessage", "PermanentError", "Provider",
           "ProviderConfigError", "ProviderRegistry", "Receipt", "TransientError", "send_with_retry"]
