"""Qt windows. Everything here is a thin view over the plain-Python services."""
