"""Fixtures for the engine's log-side tests: a fresh engine in a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.engine import Engine


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def engine(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Iterator[Engine]:
    opened = Engine.open(tmp_path / "replica", checkpoint_every=10, signing_key=signing_key)
    yield opened
    opened.close()
