"""What listeners, the webhook and the relay share: built once per running bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access
from bot.background import Background
from bot.config import Settings
from bot.metrics import Metrics
from bot.store import Store
from bot.store.call_notes import CallNotes
from bot.store.directory import Directory

if TYPE_CHECKING:
    from bot.imports.runner import ImportRunner
    from bot.providers.bandwidth import BandwidthClient
    from bot.providers.cinnox import CinnoxClient
    from bot.providers.yeastar import YeastarClient
    from bot.relay.relay import Relay
    from bot.store.outbox import Outbox


@dataclass
class Services:
    settings: Settings
    store: Store
    metrics: Metrics
    access: Access
    slack: AsyncWebClient
    background: Background = field(default_factory=Background)
    cinnox: CinnoxClient | None = None
    bandwidth: BandwidthClient | None = None
    yeastar: YeastarClient | None = None
    webhook_token: str = ""
    outbox: Outbox | None = None
    relay: Relay | None = None
    imports: ImportRunner | None = None  # set by handlers/forms/csv_import.py

    @cached_property
    def directory(self) -> Directory:
        """Names for call messages (contacts, staff, services)."""
        return Directory(self.store)

    @cached_property
    def call_notes(self) -> CallNotes:
        """How calls ended, their call-backs, the App Home's call lists."""
        return CallNotes(self.store)

    def provider(self, name: str) -> object | None:
        return {"cinnox": self.cinnox, "bandwidth": self.bandwidth, "yeastar": self.yeastar}[name]


#: Where the aiohttp application keeps the bot's services, for its route handlers.
SERVICES = web.AppKey("services", Services)
