"""Every web.AppKey of the application, and nothing else (aiohttp: "Data Sharing aka No Singletons Please")."""

from __future__ import annotations

from aiohttp import web

from .core import Core
from .faults import Faults
from .journal import Journal
from .settings import Settings

settings_key = web.AppKey("settings", Settings)
core_key = web.AppKey("core", Core)
journal_key = web.AppKey("journal", Journal)
faults_key = web.AppKey("faults", Faults)
