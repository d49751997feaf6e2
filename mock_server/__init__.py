"""A local, faithful mock of the eSMS, Infobip OMNI and NXCLOUD Viber APIs: `create_app`, `Settings`, `__version__`."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_app", "Settings"]


def __getattr__(name: str):  # lazy, so `import mock_server` (e.g. by the pytest plugin) stays cheap
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
