"""The real clock and the real id factory: the only place the appliance reads time and entropy
for domain purposes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import uuid_utils

from appliance.kernel.ids import IdT


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class Uuid7Ids:
    """Time-ordered UUIDv7 ids (RFC 9562) from uuid-utils."""

    def new(self, kind: type[IdT]) -> IdT:
        return kind(bytes=uuid_utils.uuid7().bytes)
