"""The Craton engine: a standalone, hash-chained, replicated log with SQL projections.

It imports nothing else from `appliance` (import-linter enforces it). Map of the package:

    types        ids (TenantId, StreamId = tenant << 32 | local, Offset, …), Value, the EngineError
                 tree with its §4.1 wire codes
    crypto       the SHA-256 record chain (§1.2/§1.3) and Ed25519 signed checkpoints
    storage/     one §1.3 segment per stream, offset index, checkpoints, signatures, the command
                 journal, verified reads and verify_chain
    kernel/      pure apply_committed(state, command) -> (state, effects), state_hash
    replicator   the seam every state change passes: journal (fsync) then apply; VSR replaces it
    engine/      the facade the server calls (Engine), effect execution, recovery on open
    audit        the hash-chained audit log of DDL, DML, auth decisions, exports and recoveries
    export       JSON Lines export with a signed proof, and its offline verification
    query/       SQL parsed into deterministic statements        store/   versioned SQLite projections
    wire/, server/, client/, cli   the network protocol, the replica server, clients and `craton` commands

Write path: server → Engine → Replicator (journal fsync) → kernel → storage + store + audit.
Read path: server → Engine → verified segment reads, or SQL on this replica's projections.
"""
