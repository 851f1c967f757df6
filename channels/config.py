"""Each provider's base URL and credentials, from the environment as NUDGEFLOW_<CHANNEL>_...

A provider without credentials is not built: its channel falls back to the outbox provider.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import get_settings


class ChannelsConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NUDGEFLOW_", extra="ignore")

    # Seconds one provider call may take; a hung provider is transient, retried by Temporal.
    channel_timeout: float = 10.0
    # Signs the opaque reply tokens in buttons and deep links (no personal data in them). Unset: the
    # per-install development secret (config.Settings), and no start at all in production.
    reply_secret: SecretStr | None = None
    # Where providers reach our /v1/inbound/{provider} callbacks, e.g. https://nudge.example.com.
    public_base_url: str | None = None

    telegram_base_url: str = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_bot_username: str | None = None

    whatsapp_base_url: str = "https://graph.facebook.com/v23.0"
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    # The WhatsApp Business Account whose message templates' statuses are synced (Meta's WABA id).
    whatsapp_business_account_id: str | None = None

    smsaero_base_url: str = "https://gate.smsaero.ru/v2"
    smsaero_email: str | None = None
    smsaero_api_key: SecretStr | None = None
    smsaero_sign: str = "SMS Aero"
    # SMS Aero signs nothing: its callback URL carries this secret as a query parameter.
    smsaero_callback_secret: SecretStr | None = None

    rocketsms_base_url: str = "https://api.rocketsms.by"
    rocketsms_username: str | None = None
    # The md5 hex of the account password, as the API expects it.
    rocketsms_password_md5: SecretStr | None = None
    rocketsms_sender: str | None = None

    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None

    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_project_id: str | None = None
    # The service-account key file's JSON (its token_uri is honoured, so a fake can serve tokens).
    fcm_service_account_json: SecretStr | None = None

    webpush_vapid_private_key: SecretStr | None = None
    webpush_vapid_subject: str = "mailto:ops@nudgeflow.invalid"

    email_host: str | None = None
    email_port: int = 587
    email_username: str | None = None
    email_password: SecretStr | None = None
    email_from: str = "nudgeflow@localhost"
    email_start_tls: bool | None = None
    email_use_tls: bool = False

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    def call_budget(self) -> timedelta:
        """The longest one provider call may take: an adapter makes up to two requests (a token
        then the send, a free text then its template), each within the channel timeout."""
        return timedelta(seconds=2 * self.channel_timeout + 2)


def reply_secret(config: ChannelsConfig) -> str:
    """The secret reply tokens are signed with: NUDGEFLOW_REPLY_SECRET, or the development one."""
    if config.reply_secret is not None and config.reply_secret.get_secret_value():
        return config.reply_secret.get_secret_value()
    return get_settings().reply_signing_secret()


@lru_cache(maxsize=1)
def get_channels_config() -> ChannelsConfig:
    return ChannelsConfig()
