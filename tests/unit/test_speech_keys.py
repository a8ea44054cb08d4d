"""API keys in the OS keyring, through keyring's real API on a real (file) backend; the app's provider lookup finds
what the settings page stored; without a keyring the error says so and names the environment variable."""

from __future__ import annotations

from pathlib import Path

import keyring.backends.fail
import pytest

from app.speech.keys import KeyringUnavailable, forget_key, key_status, mask, store_key
from app.speech.providers import KEYRING_SERVICE, find_api_key
from tests.support.keyrings import keyring_in, keyring_set


def test_a_stored_key_is_found_by_the_provider_lookup_and_shown_masked(tmp_path: Path) -> None:
    with keyring_in(tmp_path) as backend:
        assert key_status("openai", "OPENAI_API_KEY", {}).source == "none"
        store_key("openai", "  sk-live-abcdef123456  ", "OPENAI_API_KEY")
        assert backend.get_password(KEYRING_SERVICE, "openai") == "sk-live-abcdef123456"
        status = key_status("openai", "OPENAI_API_KEY", {})
        assert (status.source, status.masked) == ("keyring", "••••••••3456")
        assert status.backend == "file PlaintextKeyring: a file, not encrypted"
        found = find_api_key("openai", "OPENAI_API_KEY", {})
        assert found is not None and found.reveal() == "sk-live-abcdef123456"
        # The environment variable wins, as it does when speaking.
        environment = key_status("openai", "OPENAI_API_KEY", {"OPENAI_API_KEY": "sk-env-9999"})
        assert (environment.source, environment.masked) == ("environment", "••••••••9999")
        assert forget_key("openai", "OPENAI_API_KEY") is True
        assert forget_key("openai", "OPENAI_API_KEY") is False
        assert key_status("openai", "OPENAI_API_KEY", {}).source == "none"
        assert find_api_key("openai", "OPENAI_API_KEY", {}) is None
        assert "sk-live" not in (tmp_path / "keyring_pass.cfg").read_text()  # base64 in the file, at least not plain
    with pytest.raises(ValueError, match="empty"):
        store_key("openai", "   ", "OPENAI_API_KEY")


def test_without_a_keyring_the_error_points_to_the_environment_variable() -> None:
    with keyring_set(keyring.backends.fail.Keyring()):  # type: ignore[no-untyped-call]
        with pytest.raises(KeyringUnavailable) as failure:
            store_key("openai", "sk-x", "OPENAI_API_KEY")
        message = str(failure.value)
        assert "no OS keyring on this machine" in message and "OPENAI_API_KEY" in message
        with pytest.raises(KeyringUnavailable, match="could not be removed"):
            forget_key("openai", "OPENAI_API_KEY")
        status = key_status("openai", "OPENAI_API_KEY", {})
        assert status.source == "none" and status.keyring_problem is not None
        assert "set the environment variable OPENAI_API_KEY" in status.keyring_problem


def test_masking_never_shows_more_than_four_characters() -> None:
    assert mask("sk-1234567890") == "••••••••7890"
    assert mask("short") == "•••••"
