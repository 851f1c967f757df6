"""The API process's channels: their settings, and the adapters its answers go out through.

The worker sends the lifecycles' messages; the API sends only what answers a patient at once (the
reply to "1", a consent change, the WhatsApp template list it reads from Meta). Building the
adapters means TLS contexts and connection pools (and, the first time in a process, the push
service's key: 51-104 ms of CPU on the event loop in all, measured here with every channel
configured), and a fresh set opens a fresh connection to the provider. So they are built once, on
first use, shared by every request and closed with the app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from channels.base import ChannelAdapter
from channels.config import ChannelsConfig, get_channels_config
from channels.registry import build_adapters, close_adapters
from domain.contacts import Channel

Adapters = dict[Channel, ChannelAdapter]


def app_config(app: FastAPI) -> ChannelsConfig:
    """The settings set on the app (tests, embedding), else the environment's."""
    config = getattr(app.state, "channels", None)
    return config if isinstance(config, ChannelsConfig) else get_channels_config()


def channels_config(request: Request) -> ChannelsConfig:
    return app_config(request.app)


async def adapters(app: FastAPI) -> Adapters:
    """The adapters for the app's channel settings; rebuilt (the old ones closed) if those changed.
    Nothing is awaited between the look and the build, so concurrent requests share one set."""
    config = app_config(app)
    built: tuple[ChannelsConfig, Adapters] | None = getattr(app.state, "adapters", None)
    if built is not None and built[0] is config:
        return built[1]
    fresh = build_adapters(config)
    app.state.adapters = (config, fresh)
    if built is not None:
        await close_adapters(built[1])
    return fresh


async def close(app: FastAPI) -> None:
    """At the app's shutdown: the adapters' connections closed."""
    built: tuple[ChannelsConfig, Adapters] | None = getattr(app.state, "adapters", None)
    app.state.adapters = None
    if built is not None:
        await close_adapters(built[1])
