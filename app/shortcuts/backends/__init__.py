"""One module per platform. Only :mod:`app.shortcuts.select` builds backends; the key tables are shared."""
