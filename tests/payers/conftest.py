from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.payers.misbehaving import MisbehavingServer


@pytest.fixture
def misbehaving() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer().start()
    yield server
    server.stop()


@pytest.fixture
def other_server() -> Iterator[MisbehavingServer]:
    """A second origin, playing somebody who is not the payer."""
    server = MisbehavingServer().start()
    yield server
    server.stop()
