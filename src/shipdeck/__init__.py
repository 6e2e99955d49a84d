"""shipdeck: a keyboard-driven terminal dashboard for deployments, and the engine behind it."""

__version__ = "0.1.0"
