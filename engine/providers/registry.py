"""Which provider sends which workspace's email, SMS and WhatsApp, configured by
``SWITCHBACK_*`` environment variables (read with pydantic-settings).

Globally: ``SWITCHBACK_EMAIL_PROVIDER=outbox|ses|smtp``,
``SWITCHBACK_SMS_PROVIDER=outbox|twilio`` and ``SWITCHBACK_WHATSAPP_PROVIDER``
(follows SMS when unset), plus each provider's settings (``SWITCHBACK_SES_*``,
``SWITCHBACK_SMTP_*``, ``SWITCHBACK_TWILIO_*``), rate limits and retries.

Per workspace: ``SWITCHBACK_CHANNELS`` is a JSON object from workspace name to
overrides of any of those settings, named like the variable without the
``SWITCHBACK_`` prefix, in lower case::

    SWITCHBACK_CHANNELS='{"acme": {"email_provider": "ses", "ses_from": "news@acme.com"}}'

Anything not overridden comes from the global settings. ``outbox`` stays the default
for every channel. A provider selected without the settings it needs is a
:class:`ProviderConfigError` naming the missing variable; the registry checks every
configured workspace when it is created, so a bad configuration stops the start.
"""

from __future__ import annotations

import math
import ssl
import threading
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from engine.providers.base import OutgoingMessage, Provider, Receipt
from engine.providers.retry import send_with_retry
from engine.ratelimit import Bucket

PREFIX = "SWITCHBACK_"
CHANNELS = ("email", "sms", "whatsapp")


class ProviderConfigError(ValueError):
    """A provider is selected but cannot work with the configuration given."""


class ChannelConfig(BaseModel):
    """The channel settings of one workspace (every field is a ``SWITCHBACK_<NAME>`` variable)."""

    model_config = ConfigDict(extra="forbid")

    email_provider: Literal["outbox", "ses", "smtp"] = "outbox"
    sms_provider: Literal["outbox", "twilio"] = "outbox"
    whatsapp_provider: Literal["outbox", "twilio"] | None = Field(default=None, description="default: as SMS")

    ses_region: str | None = Field(default=None, description="AWS region of the SES account, e.g. eu-west-1")
    ses_from: str | None = Field(default=None, description="verified sender, e.g. 'Acme <news@acme.com>'")
    ses_configuration_set: str | None = Field(default=None, description="routes SES events to SNS")
    ses_endpoint_url: str | None = Field(default=None, description="another SES endpoint (tests: moto)")
    ses_per_minute: float | None = Field(default=None, ge=0, description="provider limit; unset/0: none")

    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="default 587/465/25 by security")
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_timeout: float = Field(default=10.0, gt=0)
    smtp_ca_file: Path | None = Field(default=None, description="trusted CA certificates (PEM) for the relay")
    smtp_per_minute: float | None = Field(default=None, ge=0)

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_sms_from: str | None = Field(default=None, description="E.164 sender number")
    twilio_whatsapp_from: str | None = Field(default=None, description="E.164 WhatsApp sender number")
    twilio_messaging_service_sid: str | None = Field(default=None, description="instead of an SMS number")
    twilio_api_base_url: str | None = Field(default=None, description="another API address (tests only)")
    twilio_timeout: float = Field(default=10.0, gt=0)
    twilio_per_minute: float | None = Field(default=None, ge=0)

    campaign_email_per_minute: float | None = Field(default=100, ge=0, description="per journey/broadcast")
    campaign_sms_per_minute: float | None = Field(default=10, ge=0)
    campaign_whatsapp_per_minute: float | None = Field(default=None, ge=0, description="default: as SMS")

    send_attempts: int = Field(default=3, ge=1, le=10, description="calls to the provider, in total")
    retry_base_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=30.0, ge=0)

    def provider_for(self, channel: str) -> str:
        if channel == "email":
            return self.email_provider
        if channel == "sms":
            return self.sms_provider
        if channel == "whatsapp":
            return self.whatsapp_provider or self.sms_provider
        raise ProviderConfigError(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")


class ChannelSettings(ChannelConfig, BaseSettings):
    """:class:`ChannelConfig` read from the environment, plus per-workspace overrides."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    channels: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="JSON: workspace -> overrides of the settings above")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelSettings:
        """The settings from ``env`` (default: the process environment); a malformed value
        is a :class:`ProviderConfigError` naming its variable."""
        source_env = env

        class FromMapping(cls):  # type: ignore[valid-type, misc]
            @classmethod
            def settings_customise_sources(cls_, settings_cls, init_settings, env_settings, dotenv_settings,
                                           file_secret_settings):
                if source_env is None:
                    return (init_settings, env_settings)
                return (init_settings, _MappingSource(settings_cls, source_env))

        try:
            loaded = FromMapping()
        except ValidationError as exc:
            raise ProviderConfigError(_describe(exc, lambda loc: PREFIX + str(loc[0]).upper())) from exc
        except SettingsError as exc:
            raise ProviderConfigError(f"{PREFIX}CHANNELS must be a JSON object (workspace -> settings): "
                                      f"{exc.__cause__ or exc}") from exc
        return cls.model_construct(**{name: getattr(loaded, name) for name in cls.model_fields})

    def for_workspace(self, workspace: str) -> ChannelConfig:
        """The global settings with this workspace's overrides applied."""
        overrides = self.channels.get(workspace) or {}
        if not isinstance(overrides, dict):
            raise ProviderConfigError(f"{PREFIX}CHANNELS.{workspace} must be a JSON object of settings")
        values = {name: getattr(self, name) for name in ChannelConfig.model_fields}
        try:
            return ChannelConfig.model_validate({**values, **overrides})
        except ValidationError as exc:
            raise ProviderConfigError(_describe(exc, lambda loc: f"{PREFIX}CHANNELS.{workspace}.{loc[0]}")) from exc


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls, env: Mapping[str, str]):
        self._mapping = dict(env)
        super().__init__(settings_cls)

    def _load_env_vars(self):
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _describe(exc: ValidationError, name_of) -> str:
    problems = []
    for error in exc.errors():
        loc = error.get("loc") or ("?",)
        problems.append(f"{name_of(loc)}: {error.get('msg')}")
    return "invalid channel settings: " + "; ".join(problems)


def _one_second(per_minute: float) -> int:
    """The default burst: one second's worth of sends, at least 1."""
    return max(1, math.ceil(per_minute / 60))


class ProviderRegistry:
    def __init__(self, env_or_settings: Mapping[str, str] | ChannelSettings | None, outbox: Provider,
                 public_url: str, *, check: bool = True):
        """``env_or_settings``: an environment mapping, ready settings, or None for the
        process environment. ``outbox``: the provider used where nothing else is
        selected. ``public_url``: this deployment's public base URL (Twilio status
        callbacks). With ``check`` every configured workspace is checked now."""
        if isinstance(env_or_settings, ChannelSettings):
            self.settings = env_or_settings
        else:
            self.settings = ChannelSettings.from_env(env_or_settings)
        self.outbox, self.public_url = outbox, public_url.rstrip("/")
        self._providers: dict[tuple, Provider] = {}  # by provider settings: shared between workspaces
        self._chosen: dict[tuple[str, str], Provider] = {}  # by (workspace, channel)
        self._configs: dict[str, ChannelConfig] = {}
        self._lock = threading.Lock()
        if check:
            self.check()

    def check(self) -> None:
        """Raise :class:`ProviderConfigError` listing every selected provider that lacks a
        setting, for the global configuration and each workspace in SWITCHBACK_CHANNELS."""
        problems: list[str] = []
        for workspace in [None, *sorted(self.settings.channels)]:
            try:
                config = self.config(workspace or "")
                for channel in CHANNELS:
                    problems += self._missing(workspace or "", config, channel)
            except ProviderConfigError as exc:
                problems.append(str(exc))
        problems = list(dict.fromkeys(problems))
        if problems:
            raise ProviderConfigError("channel providers are not configured:\n- " + "\n- ".join(problems))

    def config(self, workspace: str) -> ChannelConfig:
        config = self._configs.get(workspace)
        if config is None:
            config = self._configs[workspace] = self.settings.for_workspace(workspace)
        return config

    def provider_name(self, workspace: str, channel: str) -> str:
        return self.config(workspace).provider_for(channel)

    def get(self, workspace: str, channel: str) -> Provider:
        """The provider that sends ``channel`` messages for ``workspace``."""
        provider = self._chosen.get((workspace, channel))
        if provider is None:
            provider = self._chosen[(workspace, channel)] = self._choose(workspace, channel)
        return provider

    def _choose(self, workspace: str, channel: str) -> Provider:
        config = self.config(workspace)
        missing = self._missing(workspace, config, channel)
        if missing:
            raise ProviderConfigError("; ".join(missing))
        name = config.provider_for(channel)
        if name == "outbox":
            return self.outbox
        key = (name, *self._settings_of(config, name))
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                provider = self._providers[key] = self._build(name, config)
        return provider

    def limits(self, workspace: str, channel: str, campaign_id: str | None = None,
               per_minute: float | None = None) -> list[Bucket]:
        """The rate-limit buckets one send passes: the provider's (when it has a limit) and
        the campaign's (``campaign_id``: a journey or broadcast; ``per_minute`` overrides
        the channel's default; 0 means no limit). Bursts are one second's worth."""
        config = self.config(workspace)
        provider = config.provider_for(channel)
        buckets = []
        provider_rate = getattr(config, f"{provider}_per_minute", None)
        if provider_rate:
            buckets.append(Bucket(f"provider:{workspace}:{provider}", provider_rate, _one_second(provider_rate)))
        if campaign_id is not None:
            rate = per_minute
            if rate is None:
                rate = getattr(config, f"campaign_{channel}_per_minute")
                if rate is None and channel == "whatsapp":
                    rate = config.campaign_sms_per_minute
            if rate:
                buckets.append(Bucket(f"campaign:{workspace}:{campaign_id}:{channel}", rate, _one_second(rate)))
        return buckets

    def retry_options(self, workspace: str) -> dict[str, Any]:
        """Keyword arguments for :func:`engine.providers.retry.send_with_retry`."""
        config = self.config(workspace)
        return {"attempts": config.send_attempts, "base_delay": config.retry_base_delay,
                "max_delay": config.retry_max_delay}

    def send(self, message: OutgoingMessage, **retry: Any) -> Receipt:
        """Send through the workspace's provider with its retry policy (raises
        :class:`engine.providers.retry.DeliveryFailed`). ``retry`` overrides the policy or
        injects ``sleep``/``random`` (tests)."""
        provider = self.get(message.workspace, message.channel)
        return send_with_retry(provider, message, **{**self.retry_options(message.workspace), **retry})

    # -- building providers -------------------------------------------------------------

    REQUIRED = {"ses": ("ses_region", "ses_from"), "smtp": ("smtp_host", "smtp_from"),
                "twilio": ("twilio_account_sid", "twilio_auth_token")}

    def _missing(self, workspace: str, config: ChannelConfig, channel: str) -> list[str]:
        name = config.provider_for(channel)
        own = workspace in self.settings.channels
        where = f"workspace {workspace}: " if own else ""

        def var(*fields: str) -> str:
            names = " or ".join(PREFIX + f.upper() for f in fields)
            if own:
                names += " (or " + " or ".join(f'"{f}"' for f in fields) + f" in {PREFIX}CHANNELS.{workspace})"
            return names

        problems = [f"{where}{name} is selected but {var(field)} is not set"
                    for field in self.REQUIRED.get(name, ()) if not getattr(config, field)]
        if name == "smtp" and bool(config.smtp_username) != bool(config.smtp_password):
            problems.append(f"{where}SMTP needs both {var('smtp_username')} and {var('smtp_password')}, or neither")
        sms_sender = config.twilio_sms_from or config.twilio_messaging_service_sid
        if name == "twilio" and channel == "sms" and not sms_sender:
            problems.append(f"{where}twilio sends SMS and needs "
                            f"{var('twilio_sms_from', 'twilio_messaging_service_sid')}")
        if name == "twilio" and channel == "whatsapp" and not config.twilio_whatsapp_from:
            problems.append(f"{where}twilio sends WhatsApp but {var('twilio_whatsapp_from')} is not set")
        return problems

    @staticmethod
    def _settings_of(config: ChannelConfig, name: str) -> tuple:
        return tuple(getattr(config, f) for f in sorted(ChannelConfig.model_fields) if f.startswith(name + "_"))

    def _build(self, name: str, config: ChannelConfig) -> Provider:
        if name == "ses":
            from engine.providers.ses import SesProvider

            try:
                return SesProvider(config.ses_from, region=config.ses_region,
                                   configuration_set=config.ses_configuration_set,
                                   endpoint_url=config.ses_endpoint_url)
            except Exception as exc:  # botocore: unknown region or endpoint
                raise ProviderConfigError(f"SES cannot be set up: {exc}") from exc
        if name == "smtp":
            from engine.providers.smtp import SmtpProvider

            context = None
            if config.smtp_ca_file:
                try:
                    context = ssl.create_default_context(cafile=str(config.smtp_ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise ProviderConfigError(f"{PREFIX}SMTP_CA_FILE cannot be read: {exc}") from exc
            try:
                return SmtpProvider(config.smtp_host, config.smtp_from, port=config.smtp_port,
                                    security=config.smtp_security, username=config.smtp_username,
                                    password=config.smtp_password, timeout=config.smtp_timeout,
                                    ssl_context=context)
            except ValueError as exc:
                raise ProviderConfigError(f"SMTP: {exc}") from exc
        if name == "twilio":
            from engine.providers.twilio import TwilioProvider

            return TwilioProvider(config.twilio_account_sid, config.twilio_auth_token,
                                  sms_from=config.twilio_sms_from, whatsapp_from=config.twilio_whatsapp_from,
                                  messaging_service_sid=config.twilio_messaging_service_sid,
                                  public_url=self.public_url, api_base_url=config.twilio_api_base_url,
                                  timeout=config.twilio_timeout)
        raise ProviderConfigError(f"unknown provider {name!r}")  # pragma: no cover - Literal types prevent it
