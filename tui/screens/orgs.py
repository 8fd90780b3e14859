"""The Organisations screen (the signed-in user's organisations) and an organisation's Members.

Organisations: enter opens the selected one's members, `a` its audit trail. Members: `c` changes
the selected member's role (picked from the fixed set), `x` removes them after a yes/no question;
the appliance enforces who may (403) and the last-Owner rule (its refusal is shown). They must
never change a membership without that question or that pick.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.formatting import clean
from tui.identity_api import ROLES, IdentityApi
from tui.identity_format import MEMBER_COLUMNS, ORG_COLUMNS, member_cells, org_cells
from tui.identity_replies import Member, OrgSummary
from tui.screens.audit import AuditScreen
from tui.screens.dialogs import ConfirmDialog, RoleDialog
from tui.screens.identity import Fetched, IdentityScreen


class OrgsScreen(IdentityScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_members", "Members", show=True),
        Binding("a", "open_audit", "Org audit"),
    ]

    def __init__(self, api: IdentityApi) -> None:
        super().__init__(api, title="Organisations", columns=ORG_COLUMNS, fetch=self.fetch_orgs)
        self.orgs: dict[str, OrgSummary] = {}

    async def fetch_orgs(self, cursor: str | None) -> Fetched:
        orgs = await self.api.orgs()
        self.orgs = {org.org_id: org for org in orgs}
        return [(org.org_id, org_cells(org)) for org in orgs], None

    def selected_org(self) -> OrgSummary | None:
        return self.orgs.get(self.table.selected_key() or "")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_members()

    def action_open_members(self) -> None:
        org = self.selected_org()
        if org is not None:
            self.app.push_screen(MembersScreen(self.api, org))

    def action_open_audit(self) -> None:
        org = self.selected_org()
        if org is not None:
            self.app.push_screen(AuditScreen(self.api, org_id=org.org_id, org_name=org.name))


class MembersScreen(IdentityScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "change_role", "Change role"),
        Binding("x", "remove_member", "Remove"),
    ]

    def __init__(self, api: IdentityApi, org: OrgSummary) -> None:
        title = f"Members — {clean(org.name, 60)}"
        super().__init__(api, title=title, columns=MEMBER_COLUMNS, fetch=self.fetch_members)
        self.org = org
        self.members: dict[str, Member] = {}

    async def fetch_members(self, cursor: str | None) -> Fetched:
        members = await self.api.members(self.org.org_id)
        self.members = {member.user_id: member for member in members}
        return [(member.user_id, member_cells(member)) for member in members], None

    def selected_member(self) -> Member | None:
        return self.members.get(self.table.selected_key() or "")

    def action_change_role(self) -> None:
        member = self.selected_member()
        if member is None:
            return
        who = member.email or member.user_id

        def picked(role: str | None) -> None:
            if role is not None and role != member.role:
                self.act(f"{who} is now {role}", lambda: self.api.change_role(self.org.org_id, member.user_id, role))

        self.app.push_screen(RoleDialog(who, ROLES, member.role), picked)

    def action_remove_member(self) -> None:
        member = self.selected_member()
        if member is None:
            return
        who = member.email or member.user_id

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(f"{who} removed", lambda: self.api.remove_member(self.org.org_id, member.user_id))

        self.app.push_screen(ConfirmDialog(f"Remove {who} from {self.org.name}?"), answered)
