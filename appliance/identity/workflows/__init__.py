"""Identity workflows: load aggregates, decide with the pure domain, append, and keep sessions.

Each module owns one family of use cases (signup, login, sessions, users, passkeys, oauth for the
account side; orgs, members, invites, API keys and audit for organisations). They take the ports
they need explicitly (`store.IdentityPorts`), so the HTTP layer and `craton admin` call the same
functions. They never touch HTTP types, and they never decide: the domain does.
"""
