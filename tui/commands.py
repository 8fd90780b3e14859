"""Our command-palette provider: refresh now, the OpenAPI address, the identity screens, sign in
or out, dark mode, quit.

It owns only the list of commands and their wording; each command runs an app action, so a key
binding and the palette can never do different things. It must never reach the appliance itself.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, app action); the titles are what the user types to find them.
COMMANDS = (
    ("Refresh now", "Poll the appliance immediately instead of waiting for the next round", "refresh_now"),
    ("Show OpenAPI address", "Show <url>/schema and copy it to the clipboard", "show_openapi"),
    ("Status", "The appliance's status (no sign-in needed)", "show('status')"),
    ("Users", "Every account; enable or disable one (instance administrators)", "show('users')"),
    ("Organisations", "Your organisations, their members and audit trails", "show('orgs')"),
    ("Sessions", "Your live sessions; end one", "show('sessions')"),
    ("Audit", "The instance-wide audit trail (instance administrators)", "show('audit')"),
    ("Sign in / sign out", "Sign in to the appliance, or end this session", "sign_in_out"),
    ("Toggle dark mode", "Switch between the dark and the light theme", "toggle_dark"),
    ("Quit", "Leave the TUI (under `craton up` this also stops the appliance)", "quit"),
)


class CratonCommands(Provider):
    async def discover(self) -> Hits:
        for title, help_text, action in COMMANDS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                run = partial(self.app.run_action, action)
                yield Hit(score, matcher.highlight(title), run, help=help_text)
