"""SHA-256 integrity of what gainnet writes: saved solvers, run directories, the cycle store.

One mechanism for every file that is read back later. A saved solver directory holds a
``SHA256SUMS`` manifest in ``sha256sum`` format (``<hex digest>  <file name>`` per line, so
``sha256sum -c SHA256SUMS`` checks it too), and :func:`verify_manifest` refuses a directory
whose files are missing, edited or corrupt before anything in them is parsed. The cycle store
names each model file by its digest and checks it with :func:`verify_digest`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from gainnet.errors import CheckpointError, GainnetError

MANIFEST_NAME = "SHA256SUMS"
#: the largest manifest read (a few lines per file)
MAX_MANIFEST_BYTES = 1 << 20
_LINE = re.compile(r"^([0-9a-f]{64}) [ *]([^/\\]+)$")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, digest: str, where: str, fix: str) -> None:
    """Raise :class:`CheckpointError` unless ``sha256(data) == digest``; ``fix`` says what to do."""
    if sha256_hex(data) != digest:
        raise CheckpointError(
            f"{where} does not match its recorded SHA-256: the file is corrupt or was edited; {fix}"
        )


def write_manifest(directory: str | Path, names: Iterable[str]) -> Path:
    """Write ``directory/SHA256SUMS`` for the files ``names`` in it (atomically)."""
    root = Path(directory)
    lines = []
    for name in sorted(set(names)):
        lines.append(f"{sha256_hex((root / name).read_bytes())}  {name}\n")
    target = root / MANIFEST_NAME
    partial = root / f".{MANIFEST_NAME}.partial"
    partial.write_text("".join(lines))
    partial.replace(target)
    return target


def read_manifest(directory: str | Path, fix: str = "save the solver again") -> dict[str, str]:
    """``{file name: digest}`` of ``directory/SHA256SUMS``, or a :class:`CheckpointError`
    (``fix`` says what to do)."""
    root = Path(directory)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise CheckpointError(
            f"{root} has no {MANIFEST_NAME}: it was not written by this gainnet or is incomplete; "
            f"{fix}"
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{path} is too large to be a manifest")
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1):
        match = _LINE.match(line)
        if match is None:
            raise CheckpointError(f"{path} line {number} is not '<sha256>  <file name>'")
        entries[match.group(2)] = match.group(1)
    return entries


def verify_manifest(
    directory: str | Path, required: Iterable[str], fix: str = "save the solver again"
) -> dict[str, str]:
    """Check every file ``SHA256SUMS`` lists (which must include ``required``) against it;
    ``fix`` ends the error messages (what to do)."""
    root = Path(directory)
    entries = read_manifest(root, fix)
    for name in required:
        if name not in entries:
            raise CheckpointError(f"{root / MANIFEST_NAME} does not list {name}")
    fix = f"restore {root} from a backup or {fix}"
    for name, digest in entries.items():
        path = root / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing")
        verify_digest(path.read_bytes(), digest, str(path), fix)
    return entries


def check_writable(directory: str | Path, what: str) -> Path:
    """Create ``directory`` if needed and prove a file can be written in it, before any work.

    Raises :class:`GainnetError` naming the directory, so a long run is never lost to a
    read-only or full disk discovered only at the end.
    """
    root = Path(directory)
    probe = root / f".gainnet-write-test-{os.getpid()}"
    try:
        if root.exists() and not root.is_dir():
            raise GainnetError(f"{what} {root} is a file, not a directory")
        root.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise GainnetError(f"cannot write the {what} {root}: {exc.strerror or exc}") from None
    return root
