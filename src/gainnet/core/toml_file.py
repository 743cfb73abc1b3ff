"""Reading a user's TOML config file: one clear error for every way it can be wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gainnet.errors import GainnetError

#: the largest config file read
MAX_CONFIG_BYTES = 1 << 20


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The table of ``path``; a missing file, a directory, more than 1 MiB, bad UTF-8 or bad
    TOML raise :class:`GainnetError` naming ``what`` (e.g. ``"cycle config"``) and the path."""
    path = Path(path)
    if path.is_dir():
        raise GainnetError(f"{path} is a directory, not a {what}")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise GainnetError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB")
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise GainnetError(f"no such {what}: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GainnetError(f"{path} is not valid TOML: {exc}") from None
