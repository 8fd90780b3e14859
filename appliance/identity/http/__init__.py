"""Identity HTTP controllers: auth and users, organisations and their members, invites, API keys,
and the audit trail. Handlers are thin: guard, workflow, read-your-writes, DTO out.
"""
