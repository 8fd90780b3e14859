"""Compliance export of a stream range to JSON Lines, with a signed proof, and its offline check.

File layout, one JSON object per line::

    {"type":"header", format, tenant, stream, from_offset, to_offset, created_at}
    {"type":"record", offset, kind, prev_hash (hex), payload (base64), hash (hex)}    × every record
    {"type":"proof",  …the header's fields…, records, first_prev_hash, last_hash,
                      checkpoint {offset, chain_hash, record_count, signature},
                      anchors [stored signed checkpoints inside the range], public_key, signature}

`checkpoint` is a checkpoint signature (domain "Craton-Checkpoint-v1") over the chain hash after
the last exported record; `signature` (domain "Craton-Export-v1") covers the whole proof line with
an empty signature field, so the header, range and hashes cannot be changed either. The exporter
verifies the chain before it writes anything.

`verify_export` needs only the file and the replica's public key: it recomputes the chain line by
line, so a removed, added, reordered or edited line is reported with its line number.

Owns: the export format, writing it, and verifying it. Must never: export a range whose chain
does not verify, or let `verify_export` depend on the engine or its files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.craton.crypto import (
    EXPORT_DOMAIN,
    CheckpointFields,
    load_public_key,
    public_key_bytes,
    record_hash,
    sign_checkpoint,
    sign_with_domain,
    verify_checkpoint,
    verify_with_domain,
)
from appliance.craton.storage import StreamLog
from appliance.craton.storage.files import fsync_directory, write_all
from appliance.craton.storage.record import checkpoint_payload
from appliance.craton.types import GENESIS_HASH, InvalidOffset, RecordKind

FORMAT: Final = "craton-export/1"
CHUNK_RECORDS: Final = 5_000
LINE_BYTES_MAX: Final = 64 * 1024 * 1024


class ExportHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="header"):
    format: str
    tenant: int
    stream: int
    from_offset: int
    to_offset: int
    created_at: int


class ExportRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="record"):
    offset: int
    kind: int
    prev_hash: str
    payload: bytes
    hash: str


class ProofCheckpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    offset: int
    chain_hash: str
    record_count: int
    signature: str


class ExportProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="proof"):
    format: str
    tenant: int
    stream: int
    from_offset: int
    to_offset: int
    created_at: int
    records: int
    first_prev_hash: str
    last_hash: str
    checkpoint: ProofCheckpoint
    anchors: tuple[ProofCheckpoint, ...]
    public_key: str
    signature: str = ""


class ExportSummary(msgspec.Struct, frozen=True):
    path: str
    records: int
    first_prev_hash: str
    last_hash: str


class ExportReport(msgspec.Struct, frozen=True):
    """`ok` only if every line checked out; otherwise the 1-based line at fault and why."""

    ok: bool
    records: int
    first_bad_line: int | None
    reason: str | None


_Line = ExportHeader | ExportRecord | ExportProof
_line_decoder = msgspec.json.Decoder(_Line)


def write_export(
    log: StreamLog, *, tenant: int, from_offset: int, to_offset: int, key: Ed25519PrivateKey, out: Path, now: int
) -> ExportSummary:
    """Write records [from, to] of `log` (verified) and a signed proof to `out`, atomically."""
    if not 0 <= from_offset <= to_offset < log.next_offset:
        raise InvalidOffset(f"export range [{from_offset}, {to_offset}] is outside the stream (next {log.next_offset})")
    header = ExportHeader(FORMAT, tenant, log.stream, from_offset, to_offset, now)
    temporary = out.with_name(out.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        write_all(fd, msgspec.json.encode(header) + b"\n")
        first_prev, last_hash, count = _write_records(fd, log, from_offset, to_offset)
        proof = _proof(header, log, key, (first_prev, last_hash, count))
        write_all(fd, msgspec.json.encode(proof) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, out)
    fsync_directory(out.parent)
    return ExportSummary(str(out), count, first_prev.hex(), last_hash.hex())


def _write_records(fd: int, log: StreamLog, from_offset: int, to_offset: int) -> tuple[bytes, bytes, int]:
    first_prev = b""
    last_hash = b""
    count = 0
    for start in range(from_offset, to_offset + 1, CHUNK_RECORDS):
        records = log.read_records(start, min(start + CHUNK_RECORDS - 1, to_offset))
        lines = []
        for record in records:
            if not first_prev:
                first_prev = record.prev_hash
            lines.append(
                msgspec.json.encode(
                    ExportRecord(record.offset, record.kind, record.prev_hash.hex(), record.payload, record.hash.hex())
                )
            )
            last_hash = record.hash
        count += len(records)
        write_all(fd, b"\n".join(lines) + b"\n")
    return first_prev, last_hash, count


def _proof(
    header: ExportHeader, log: StreamLog, key: Ed25519PrivateKey, chain: tuple[bytes, bytes, int]
) -> ExportProof:
    first_prev, last_hash, count = chain
    end = header.to_offset + 1
    fields = CheckpointFields(header.stream, end, last_hash, end)
    checkpoint = ProofCheckpoint(end, last_hash.hex(), end, sign_checkpoint(key, fields).hex())
    anchors = tuple(
        ProofCheckpoint(entry.offset, entry.chain_hash.hex(), entry.record_count, entry.signature.hex())
        for offset, entry in sorted(log.signed_checkpoints.items())
        if header.from_offset <= offset <= header.to_offset
    )
    unsigned = ExportProof(
        header.format,
        header.tenant,
        header.stream,
        header.from_offset,
        header.to_offset,
        header.created_at,
        count,
        first_prev.hex(),
        last_hash.hex(),
        checkpoint,
        anchors,
        public_key_bytes(key).hex(),
    )
    signature = sign_with_domain(key, EXPORT_DOMAIN, msgspec.json.encode(unsigned))
    return msgspec.structs.replace(unsigned, signature=signature.hex())


class _Failure(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def verify_export(path: Path, public_key: bytes | Ed25519PublicKey) -> ExportReport:
    """Check an export file offline against the replica's public key (raw 32 bytes or a key)."""
    key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as error:
        return ExportReport(False, 0, None, f"cannot read {path}: {error}")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        records = _verify_lines(lines, key)
    except _Failure as failure:
        return ExportReport(False, 0, failure.line, failure.reason)
    except ValueError as error:  # a hash or signature field that is not hex
        return ExportReport(False, 0, None, f"malformed field: {error}")
    return ExportReport(True, records, None, None)


def _parse(lines: list[bytes], number: int) -> _Line:
    line = lines[number - 1]
    if len(line) > LINE_BYTES_MAX:
        raise _Failure(number, "line too long")
    try:
        decoded: _Line = _line_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise _Failure(number, f"not an export line: {error}") from None
    return decoded


def _verify_lines(lines: list[bytes], key: Ed25519PublicKey) -> int:
    if len(lines) < 3:
        raise _Failure(max(1, len(lines)), "an export has a header, at least one record and a proof")
    header, proof = _parse(lines, 1), _parse(lines, len(lines))
    if not isinstance(header, ExportHeader) or header.format != FORMAT:
        raise _Failure(1, f"the first line is not a {FORMAT} header")
    if not isinstance(proof, ExportProof):
        raise _Failure(len(lines), "the last line is not a proof")
    _check_proof(proof, header, key, len(lines))
    computed = _check_chain(lines, proof)
    _check_anchors(proof, computed, key, len(lines))
    return proof.records


def _check_proof(proof: ExportProof, header: ExportHeader, key: Ed25519PublicKey, line: int) -> None:
    unsigned = msgspec.json.encode(msgspec.structs.replace(proof, signature=""))
    if not verify_with_domain(key, EXPORT_DOMAIN, unsigned, bytes.fromhex(proof.signature)):
        raise _Failure(line, "the proof's signature does not verify with this public key")
    fields = (header.format, header.tenant, header.stream, header.from_offset, header.to_offset, header.created_at)
    if fields != (proof.format, proof.tenant, proof.stream, proof.from_offset, proof.to_offset, proof.created_at):
        raise _Failure(1, "the header does not match the signed proof")
    end = proof.to_offset + 1
    signed = CheckpointFields(proof.stream, end, bytes.fromhex(proof.last_hash), end)
    if proof.checkpoint.offset != end or proof.checkpoint.chain_hash != proof.last_hash:
        raise _Failure(line, "the proof's checkpoint is not at the end of the range")
    if not verify_checkpoint(key, signed, bytes.fromhex(proof.checkpoint.signature)):
        raise _Failure(line, "the signed checkpoint does not verify")
    if proof.from_offset == 0 and proof.first_prev_hash != GENESIS_HASH.hex():
        raise _Failure(line, "an export from offset 0 must start at the genesis hash")


def _check_chain(lines: list[bytes], proof: ExportProof) -> dict[int, tuple[int, str]]:
    """Recompute every record's hash; returns offset → (kind, prev_hash) for the anchor check."""
    expected_lines = proof.to_offset - proof.from_offset + 1
    head = bytes.fromhex(proof.first_prev_hash)
    seen: dict[int, tuple[int, str]] = {}
    for number in range(2, len(lines)):
        record = _parse(lines, number)
        offset = proof.from_offset + number - 2
        if not isinstance(record, ExportRecord):
            raise _Failure(number, "expected a record line")
        if record.offset != offset:
            raise _Failure(number, f"expected offset {offset}, found {record.offset} (a line was removed or added)")
        if record.prev_hash != head.hex():
            raise _Failure(number, f"record {offset} does not link to the line before it")
        if record.kind == RecordKind.CHECKPOINT and record.payload != checkpoint_payload(head, offset):
            raise _Failure(number, f"checkpoint record {offset} does not name the chain before it")
        head = record_hash(head, record.kind, record.payload)
        if record.hash != head.hex():
            raise _Failure(number, f"record {offset} was edited: it does not hash to its recorded hash")
        seen[offset] = (record.kind, record.prev_hash)
    if len(lines) - 2 != expected_lines or proof.records != expected_lines:
        raise _Failure(len(lines), f"the proof covers {expected_lines} records, the file holds {len(lines) - 2}")
    if head.hex() != proof.last_hash:
        raise _Failure(len(lines) - 1, "the last record does not hash to the proof's last hash")
    return seen


def _check_anchors(proof: ExportProof, seen: dict[int, tuple[int, str]], key: Ed25519PublicKey, line: int) -> None:
    for anchor in proof.anchors:
        kind, prev_hash = seen.get(anchor.offset, (-1, ""))
        if kind != RecordKind.CHECKPOINT or prev_hash != anchor.chain_hash:
            raise _Failure(line, f"anchor checkpoint {anchor.offset} does not match the exported chain")
        fields = CheckpointFields(proof.stream, anchor.offset, bytes.fromhex(anchor.chain_hash), anchor.record_count)
        if anchor.record_count != anchor.offset or not verify_checkpoint(key, fields, bytes.fromhex(anchor.signature)):
            raise _Failure(line, f"anchor checkpoint {anchor.offset} has a bad signature")
