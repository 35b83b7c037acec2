"""Who is who, for call messages: contacts created through the bot (by E.164 number),
CINNOX staff (by EID, copied in the background) and service names. Call delivery reads
only this store, never a provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, func, select

from bot.store import tables
from bot.store.db import Store, upsert

contacts = tables.directory_contacts
staff = tables.directory_staff
services = tables.service_names

# Built once: each call message looks its names up.
_CONTACTS = (select(contacts.c.phone, contacts.c.name)
             .where(contacts.c.phone.in_(bindparam("phones", expanding=True))))
_STAFF = select(staff).where(staff.c.eid.in_(bindparam("eids", expanding=True)))
_SERVICES = (select(services.c.service_id, services.c.name)
             .where(services.c.service_id.in_(bindparam("service_ids", expanding=True))))


@dataclass(frozen=True)
class StaffMember:
    eid: str
    name: str
    extension: str | None = None


@dataclass
class Names:
    """The names a call message needs, looked up in one go."""

    contacts: dict[str, str] = field(default_factory=dict)  # E.164 → name
    staff: dict[str, StaffMember] = field(default_factory=dict)  # EID → member
    services: dict[str, str] = field(default_factory=dict)  # serviceId → name


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        #: told (without waiting) when a lookup met an EID the staff copy does not know
        self.on_unknown_staff: Callable[[], None] | None = None

    # --- contacts ------------------------------------------------------------------------

    async def add_contact(self, phones: Iterable[str], name: str, contact_id: str | None,
                          user_id: str | None) -> None:
        """A contact created through the bot: each of its numbers now names it (the newest
        contact for a number wins)."""
        now = datetime.now(UTC)
        for phone in sorted(set(phones)):
            await upsert(self.store, contacts, "phone", {"phone": phone, "name": name[:200],
                                                         "contact_id": contact_id, "created_by": user_id,
                                                         "updated_at": now})

    # --- staff ---------------------------------------------------------------------------

    async def replace_staff(self, members: Iterable[StaffMember], refreshed_at: float) -> int:
        """The whole staff list as CINNOX gave it now; returns how many."""
        rows = [{"eid": m.eid[:128], "name": m.name[:200],
                 "extension": (m.extension or None) and m.extension[:32], "refreshed_at": refreshed_at}
                for m in {m.eid: m for m in members}.values()]
        async with self.store.transaction() as conn:
            await conn.execute(delete(staff))
            if rows:
                await conn.execute(staff.insert(), rows)
        return len(rows)

    async def staff_refreshed_at(self) -> float | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.max(staff.c.refreshed_at)))).scalar()

    # --- services ------------------------------------------------------------------------

    async def name_service(self, service_id: str, name: str, source: str) -> None:
        await upsert(self.store, services, "service_id", {
            "service_id": service_id, "name": name[:200], "source": source, "updated_at": datetime.now(UTC)})

    async def service_names(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(services.c.service_id, services.c.name).order_by(services.c.name))
            return {row.service_id: row.name for row in rows}

    # --- lookups -------------------------------------------------------------------------

    async def names(self, *, phones: Iterable[str] = (), eids: Iterable[str] = (),
                    service_ids: Iterable[str] = ()) -> Names:
        phones, eids, service_ids = set(phones), set(eids), set(service_ids)

        def read(conn: Connection) -> Names:
            found = Names()
            if phones:
                rows = conn.execute(_CONTACTS, {"phones": list(phones)})
                found.contacts = {row.phone: row.name for row in rows}
            if eids:
                rows = conn.execute(_STAFF, {"eids": list(eids)})
                found.staff = {row.eid: StaffMember(row.eid, row.name, row.extension) for row in rows}
            if service_ids:
                rows = conn.execute(_SERVICES, {"service_ids": list(service_ids)})
                found.services = {row.service_id: row.name for row in rows}
            return found

        found = await self.store.read(read)
        if len(found.staff) < len(eids) and self.on_unknown_staff is not None:
            self.on_unknown_staff()
        return found
