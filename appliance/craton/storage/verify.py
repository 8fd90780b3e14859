"""The verdict of `verify_chain`: the chain scan's result joined with the stored signatures.

A stored signature must be over exactly the chain hash the scan computed before its checkpoint;
a signature for an offset that is not a checkpoint, a damaged signature file, or a signature that
does not verify are all failures, reported at the lowest offset that is provably wrong.

Owns: `VerifyReport` and how signature evidence is judged. Must never: read files.
"""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.craton.crypto import CheckpointFields, verify_checkpoint
from appliance.craton.storage.scan import ScanFailure, ScanResult
from appliance.craton.storage.signatures import SignatureFile, SignedCheckpoint


class VerifyReport(msgspec.Struct, frozen=True):
    """`ok` only if every record, checkpoint and signature checked out; otherwise the first bad
    offset (when one can be named) and why. `signed_checkpoints` counts signatures that verified."""

    ok: bool
    records_checked: int
    first_bad_offset: int | None
    reason: str | None
    signed_checkpoints: int = 0


def check_signatures(
    stream: int, result: ScanResult, signatures: SignatureFile, public_key: Ed25519PublicKey | None
) -> VerifyReport:
    failures: list[ScanFailure] = [] if result.failure is None else [result.failure]
    computed = dict(result.checkpoints)
    verified = 0
    for offset, entry in sorted(signatures.by_offset.items()):
        if result.failure is not None and offset >= result.failure.offset:
            break
        failure = _judge(stream, entry, computed, public_key)
        if failure is not None:
            failures.append(failure)
        else:
            verified += 1
    if signatures.damage is not None and not failures:
        return VerifyReport(False, result.records_checked, None, signatures.damage, verified)
    if not failures:
        return VerifyReport(True, result.records_checked, None, None, verified)
    first = min(failures, key=lambda failure: failure.offset)
    return VerifyReport(False, result.records_checked, first.offset, first.reason, verified)


def _judge(
    stream: int, entry: SignedCheckpoint, computed: dict[int, bytes], public_key: Ed25519PublicKey | None
) -> ScanFailure | None:
    offset, chain_hash, record_count = entry.offset, entry.chain_hash, entry.record_count
    if offset not in computed:
        return ScanFailure(offset, f"a signature names checkpoint {offset}, but record {offset} is no checkpoint")
    if computed[offset] != chain_hash or record_count != offset:
        return ScanFailure(offset, f"the signed checkpoint at {offset} does not match the chain as it is now")
    if public_key is None:
        return None
    fields = CheckpointFields(stream, offset, chain_hash, record_count)
    if not verify_checkpoint(public_key, fields, entry.signature):
        return ScanFailure(offset, f"the signature of checkpoint {offset} does not verify with this replica's key")
    return None
