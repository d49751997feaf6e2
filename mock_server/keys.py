"""Every web.AppKey of the application, and nothing else (aiohttp: "Data Sharing aka No Singletons Please")."""

from __future__ import annotations

from aiohttp import web

from .core import Core
from .settings import Settings

settings_key = web.AppKey("settings", Settings)
core_key = web.AppKey("core", Core)
