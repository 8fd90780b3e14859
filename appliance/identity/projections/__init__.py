"""Identity projections: events in, read-model rows out (users, organisations, audit).

Each projection is deterministic in the events it is given (no clock, no randomness), so a rebuild
writes the same bytes as live projection. Queries over the rows live beside them (`*_query`).
"""
