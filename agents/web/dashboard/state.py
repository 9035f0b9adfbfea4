"""The dashboard's shared state (`Dashboard`, under the app key `DASHBOARD`) and its reading of the ledger.

Tenancy (Art. 10): every page, partial, live stream, export and API call resolves the agreement
through `Dashboard.agreement_for` / `visible`, which answer 404 for an agreement the user's party is
not a party to, exactly as for one that does not exist.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import jinja2
from aiohttp import web

from agents.web.dashboard import actions
from agents.web.dashboard.agreementinfo import AgreementInfo
from agents.web.dashboard.credentials import Credentials
from agents.web.dashboard.decisions import DraftBook
from agents.web.dashboard.hub import Hub
from agents.web.dashboard.items import Item
from agents.web.dashboard.readmodel import ReadModel
from agents.web.dashboard.security import SessionCodec
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.throttle import ClientAddress, LoginThrottle
from agents.web.dashboard.users import User, UserStore

POLL_BATCH = 5000
PENDING_TTL = timedelta(hours=1)


@dataclass
class Dashboard:
    settings: DashboardSettings
    ledger: Any
    bus: Any                           # has publish(event) -> event_id (a Publisher or a BusWriter)
    users: UserStore
    model: ReadModel
    clock: Callable[[], datetime]
    export: Callable[..., Any] | None
    hub: Hub = field(default_factory=Hub)
    pending: dict[str, actions.SentAction] = field(default_factory=dict)
    credentials: Credentials | None = None   # users, their signing keys and their sessions, kept together
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    address_of: ClientAddress = field(default_factory=ClientAddress)
    drafts: DraftBook = field(default_factory=DraftBook)
    codec: SessionCodec | None = None
    templates: jinja2.Environment | None = None
    last_tick: datetime | None = None
    agreement_set: Any = None          # the AgreementSet, when agreement files were loaded

    # -- tenancy --
    def visible(self, user: User) -> list[str]:
        return self.model.visible_agreements(user.party_id, user.side)

    def can_see(self, user: User, agreement_id: str) -> bool:
        return self.model.can_see(user.party_id, user.side, agreement_id)

    def agreement_for(self, user: User, agreement_id: str) -> AgreementInfo:
        """The agreement if the user may see it; 404 otherwise, the same as for one that does not exist."""
        if not self.can_see(user, agreement_id):
            raise NotFound()
        return self.model.agreements[agreement_id]

    def side_in(self, user: User, agreement_id: str) -> str | None:
        return self.model.role_in(user.party_id, agreement_id)

    @property
    def keys(self):
        return self.credentials.keys

    @property
    def sessions(self):
        return self.credentials.sessions

    def position_of(self, agreement_ids: Iterable[str]) -> int:
        """How far these agreements' records go: the sum of their chain lengths. It grows with every
        record of theirs and with nothing else, so it tells a tenant nothing of other tenants (Art. 10),
        unlike the ledger's global seq."""
        return sum(self.model.agreements[a].last_chain_seq for a in set(agreement_ids) if a in self.model.agreements)

    def timezone_of(self, agreement_id: str) -> str:
        info = self.model.agreements.get(agreement_id)
        return info.timezone if info else self.settings.default_timezone

    # -- reading the ledger --
    async def catch_up(self) -> set[str]:
        """Fold every record after the last seen seq; returns the agreements that changed."""
        changed: set[str] = set()
        while True:
            since = self.model.last_seq
            records = await asyncio.to_thread(self._read_after, since)
            changed |= self.model.apply_all(records)
            if len(records) < POLL_BATCH:
                return changed

    def _read_after(self, since: int) -> list:
        return list(islice(self.ledger.iter(since=since), POLL_BATCH))

    async def poll_once(self) -> set[str]:
        changed = await self.catch_up()
        now = self.clock()
        if self.last_tick is not None:
            changed |= self.model.crossed(self.last_tick, now)
        self.last_tick = now
        for event_id, sent in list(self.pending.items()):
            if self.model.has_event(event_id) or event_id in self.model.dead_letters or now - sent.sent_at > PENDING_TTL:
                del self.pending[event_id]
                changed.add(sent.agreement_id)
        if changed:
            self.hub.notify(changed)
        return changed

    def pending_for(self, item: Item) -> list[actions.SentAction]:
        return [p for p in self.pending.values() if (p.agreement_id, p.item_ref) == item.key]


class NotFound(web.HTTPNotFound):
    """Raised for anything a user may not see; rendered as the one generic 'not found' page."""


DASHBOARD = web.AppKey("dashboard", Dashboard)
