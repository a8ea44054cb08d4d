"""One module per platform; only :mod:`app.shortcuts.select` imports them, and only the one it needs."""
