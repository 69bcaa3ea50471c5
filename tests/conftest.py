from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import ProviderServer, dispose, new_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderServer]:
    """One running provider (demo data on) shared by the tests of a module."""
    instance = new_server(tmp_path_factory.mktemp("provider"))
    instance.start()
    yield instance
    dispose(instance)
