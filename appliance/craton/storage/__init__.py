"""The engine's durable log: one §1.3 segment per stream, its index, checkpoints and signatures.

Public surface: `Storage` (all streams of a replica), `StreamLog` (one stream), `AppendResult`,
`VerifyReport`, `Repair`, `Record`. Everything else in this package is private.
"""

from appliance.craton.storage.record import Record
from appliance.craton.storage.recovery import Repair
from appliance.craton.storage.segment import AppendResult, StreamLog
from appliance.craton.storage.streams import Storage
from appliance.craton.storage.verify import VerifyReport

__all__ = ["AppendResult", "Record", "Repair", "Storage", "StreamLog", "VerifyReport"]
