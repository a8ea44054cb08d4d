"""Global shortcuts: the accelerator model, the service, and one backend per platform (chosen at run time)."""
