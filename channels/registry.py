"""The adapter map: every channel whose provider has credentials; the rest stay with the outbox."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from channels.base import ChannelAdapter
from channels.config import ChannelsConfig, reply_secret
from channels.email import EmailAdapter
from channels.fcm import FcmAdapter
from channels.rocketsms import RocketSmsAdapter
from channels.sms import SmsAdapter
from channels.smsaero import SmsAeroAdapter
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.webhook import WebhookAdapter
from channels.webpush import WebPushAdapter
from channels.whatsapp import WhatsAppAdapter
from domain.contacts import Channel


def _callback(config: ChannelsConfig, provider: str, query: str = "") -> str | None:
    if not config.public_base_url:
        return None
    return f"{config.public_base_url.rstrip('/')}/v1/inbound/{provider}{query}"


def sms_gateways(config: ChannelsConfig) -> dict[str, ChannelAdapter]:
    timeout = config.channel_timeout
    gateways: dict[str, ChannelAdapter] = {}
    if config.smsaero_email and config.smsaero_api_key:
        secret = config.smsaero_callback_secret
        gateways["smsaero"] = SmsAeroAdapter(
            config.smsaero_base_url,
            config.smsaero_email,
            config.smsaero_api_key.get_secret_value(),
            config.smsaero_sign,
            callback_url=_callback(
                config, "smsaero", f"?secret={secret.get_secret_value()}" if secret else ""
            ),
            timeout=timeout,
        )
    if config.rocketsms_username and config.rocketsms_password_md5:
        gateways["rocketsms"] = RocketSmsAdapter(
            config.rocketsms_base_url,
            config.rocketsms_username,
            config.rocketsms_password_md5.get_secret_value(),
            config.rocketsms_sender,
            timeout=timeout,
        )
    if config.twilio_account_sid and config.twilio_auth_token and config.twilio_from:
        gateways["twilio"] = TwilioAdapter(
            config.twilio_base_url,
            config.twilio_account_sid,
            config.twilio_auth_token.get_secret_value(),
            config.twilio_from,
            status_callback=_callback(config, "twilio"),
            timeout=timeout,
        )
    return gateways


def build_adapters(config: ChannelsConfig) -> dict[Channel, ChannelAdapter]:
    timeout = config.channel_timeout
    adapters: dict[Channel, ChannelAdapter] = {}
    if config.telegram_bot_token:
        adapters[Channel.TELEGRAM] = TelegramAdapter(
            config.telegram_base_url,
            config.telegram_bot_token.get_secret_value(),
            reply_secret(config),
            timeout=timeout,
        )
    if config.whatsapp_access_token and config.whatsapp_phone_number_id:
        adapters[Channel.WHATSAPP] = WhatsAppAdapter(
            config.whatsapp_base_url,
            config.whatsapp_access_token.get_secret_value(),
            config.whatsapp_phone_number_id,
            reply_secret=reply_secret(config),
            business_account_id=config.whatsapp_business_account_id,
            timeout=timeout,
        )
    gateways = sms_gateways(config)
    if gateways:
        adapters[Channel.SMS] = SmsAdapter(gateways)
    if config.fcm_project_id and config.fcm_service_account_json:
        account: dict[str, Any] = json.loads(config.fcm_service_account_json.get_secret_value())
        adapters[Channel.PUSH] = FcmAdapter(
            config.fcm_base_url, config.fcm_project_id, account, timeout=timeout
        )
    if config.webpush_vapid_private_key:
        adapters[Channel.WEBPUSH] = WebPushAdapter(
            config.webpush_vapid_private_key.get_secret_value(), config.webpush_vapid_subject, timeout=timeout
        )
    if config.email_host:
        adapters[Channel.EMAIL] = EmailAdapter(
            config.email_host,
            config.email_port,
            config.email_from,
            username=config.email_username,
            password=config.email_password.get_secret_value() if config.email_password else None,
            start_tls=config.email_start_tls,
            use_tls=config.email_use_tls,
            timeout=timeout,
        )
    if config.webhook_url and config.webhook_secret:
        adapters[Channel.WEBHOOK] = WebhookAdapter(
            config.webhook_url, config.webhook_secret.get_secret_value(), timeout=timeout
        )
    return adapters


async def close_adapters(adapters: Mapping[Channel, ChannelAdapter]) -> None:
    for adapter in adapters.values():
        for inner in [adapter, *getattr(adapter, "gateways", {}).values()]:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()
