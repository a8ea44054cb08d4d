"""A real keyring backend for tests: keyrings.alt's plaintext file backend, writing into the test's temp folder and
set through keyring's own ``set_keyring`` (restored afterwards), so no test touches the developer's OS keyring. There
is no Secret Service on this machine; the file backend goes through the same keyring API calls the app makes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
import keyring.backend
from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]


@contextmanager
def keyring_in(folder: Path) -> Iterator[PlaintextKeyring]:
    backend = PlaintextKeyring()
    backend.file_path = str(folder / "keyring_pass.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@contextmanager
def keyring_set(backend: keyring.backend.KeyringBackend) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield
    finally:
        keyring.set_keyring(previous)
