"""Every limit the kernel enforces, named with its unit last.

Owns: the numeric bounds on commands. Must never: hold logic.
"""

from __future__ import annotations

from typing import Final

# Events in one append batch (the wire's documented maximum).
batch_events_max: Final = 10_000
# Payload bytes of one append batch; one frame carries at most 16 MiB, encoding included.
batch_bytes_max: Final = 15 * 1024 * 1024
# Bytes of one stream name, UTF-8 encoded.
stream_name_bytes_max: Final = 255
# Streams one tenant may create (local ids are 32-bit; this keeps the state small).
streams_per_tenant_max: Final = 100_000
# Tables one tenant may have at once.
tables_per_tenant_max: Final = 10_000
