"""The emulated providers, each a sub-app mounted at its real path root (STYLE.md §4.2)."""

from __future__ import annotations

from types import ModuleType

from . import esms
from . import infobip
from . import nxcloud

# Each module has NAME, ROOT (its real path root) and create_app(core) -> web.Application.
PROVIDERS: tuple[ModuleType, ...] = (esms, infobip, nxcloud)
