"""The Audit screen: an organisation's trail (Admin and up) or the instance-wide one (instance
administrators), newest first, paged with the appliance's opaque cursor.

It owns paging (n: older, p: newer again, r: reload the page shown). It must never change anything.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from tui.formatting import clean
from tui.identity_api import IdentityApi
from tui.identity_format import AUDIT_COLUMNS, audit_cells
from tui.screens.identity import Fetched, IdentityScreen


class AuditScreen(IdentityScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_page", "Older"),
        Binding("p", "previous_page", "Newer"),
    ]

    def __init__(self, api: IdentityApi, *, org_id: str | None = None, org_name: str = "") -> None:
        scope = "instance" if org_id is None else clean(org_name or org_id, 60)
        super().__init__(api, title=f"Audit — {scope}", columns=AUDIT_COLUMNS, fetch=self.fetch_page)
        self.org_id = org_id

    async def fetch_page(self, cursor: str | None) -> Fetched:
        page = await self.api.audit(self.org_id, cursor)
        return [(entry.event_id, audit_cells(entry)) for entry in page.entries], page.next_cursor
