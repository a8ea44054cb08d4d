"""API keys in the OS keyring, as the settings pages keep them: one entry per provider (service
``stage-tamagotchi``, user = the provider's id, or ``language-model`` for the chat model), never in settings.json.

Every call may block (D-Bus, an unlock prompt): the pages call these off the GUI thread. Without a usable keyring
(Linux without a Secret Service, a locked or broken one) :class:`KeyringUnavailable` says so and names the
environment variable that works instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.speech.providers import KEYRING_SERVICE

log = logging.getLogger("app.speech.keys")

LANGUAGE_MODEL_KEY = "language-model"
"""The keyring user under which the language model's key is kept."""
LANGUAGE_MODEL_KEY_ENV = "STAGE_TAMAGOTCHI_LLM_API_KEY"


class KeyringUnavailable(Exception):
    """No keyring to keep the key in; the message says what to do instead."""


@dataclass(frozen=True)
class KeyStatus:
    source: Literal["environment", "keyring", "none"]
    masked: str
    """The key as shown: its last four characters, the rest as dots; empty when there is none."""
    env_name: str | None
    keyring_problem: str | None = None
    """Why the keyring could not be asked (the key may still come from the environment)."""
    backend: str = ""
    """Which keyring keeps it, in words (e.g. "SecretService Keyring"), with a warning for a plain file."""


def backend_name() -> str:
    """The keyring backend keyring chose, as shown to the user; the plaintext backends of keyrings.alt (a dev
    dependency, chosen only where no OS keyring exists) are named as what they are."""
    import keyring  # noqa: PLC0415

    backend = keyring.get_keyring()
    name = getattr(backend, "name", type(backend).__name__)
    if type(backend).__module__.startswith("keyrings.alt"):
        return f"{name}: a file, not encrypted"
    return str(name)


def mask(key: str) -> str:
    return "•" * 8 + key[-4:] if len(key) > 8 else "•" * len(key)


def _unavailable(action: str, env_name: str | None, error: Exception) -> KeyringUnavailable:
    import keyring.errors  # noqa: PLC0415

    instead = f"set the environment variable {env_name} instead" if env_name else "no environment variable can stand in"
    if isinstance(error, keyring.errors.NoKeyringError):
        why = "there is no OS keyring on this machine (on Linux: no Secret Service such as GNOME Keyring or KWallet)"
    else:
        why = f"the OS keyring failed ({type(error).__name__}: {error})"
    return KeyringUnavailable(f"The key could not be {action}: {why}; {instead}.")


def store_key(user: str, key: str, env_name: str | None) -> None:
    """Keeps ``key`` for ``user`` in the OS keyring; raises :class:`KeyringUnavailable`."""
    import keyring  # noqa: PLC0415 - loads its backends only when a key is touched

    if not key.strip():
        raise ValueError("the key is empty")
    try:
        keyring.set_password(KEYRING_SERVICE, user, key.strip())
    except Exception as error:  # NoKeyringError, a refused unlock, a D-Bus failure: all are "not kept"
        raise _unavailable("saved", env_name, error) from None
    log.info("stored the %s key in the OS keyring (%s)", user, backend_name())


def forget_key(user: str, env_name: str | None) -> bool:
    """Removes ``user``'s key from the keyring; False when there was none. Raises :class:`KeyringUnavailable`."""
    import keyring  # noqa: PLC0415
    import keyring.errors  # noqa: PLC0415

    try:
        keyring.delete_password(KEYRING_SERVICE, user)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as error:
        raise _unavailable("removed", env_name, error) from None
    return True


def key_status(user: str, env_name: str | None, environ: Mapping[str, str] = os.environ) -> KeyStatus:
    """Where ``user``'s key comes from (the environment wins, as :func:`~app.speech.providers.find_api_key`
    decides), masked for display."""
    import keyring  # noqa: PLC0415

    if env_name and environ.get(env_name):
        return KeyStatus("environment", mask(environ[env_name]), env_name)
    try:
        stored = keyring.get_password(KEYRING_SERVICE, user)
    except Exception as error:
        return KeyStatus("none", "", env_name, str(_unavailable("read", env_name, error)))
    if not stored:
        return KeyStatus("none", "", env_name)
    return KeyStatus("keyring", mask(stored), env_name, backend=backend_name())
