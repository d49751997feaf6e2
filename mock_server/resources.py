"""Where the shipped schemas/ and fixtures/ are: inside the wheel (mock_server/_data/) or at the checkout's top level."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`schemas` or `fixtures`: the wheel's copy when installed, else the source tree's (editable / from source)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}/ not found next to the package nor inside it (looked in {_PACKAGE})")


def schemas_dir() -> Path:
    return data_dir("schemas")


def default_config_path() -> Path:
    return data_dir("fixtures") / "default.toml"
