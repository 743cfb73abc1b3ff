"""Persistence of the retraining cycle in an embedded SQLite database (stdlib ``sqlite3``).

One database file holds every expert-labelled state, every model version, every promotion
decision and the monitoring series; model weights live beside it as safetensors files named by
their SHA-256, so a corrupt or swapped file is detected on load. Every write is its own
transaction: a process killed mid-retrain loses nothing that was already written, and a
restart resumes from :meth:`Store.last_promoted`.

Arrays are stored as safetensors bytes (``safetensors.numpy``), never pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from gainnet.checkpoint import solver_from_checkpoint, validate_checkpoint_meta
from gainnet.core.integrity import check_writable, sha256_hex, verify_digest
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.solver import Solver
from gainnet.errors import GainnetError, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL,
    created REAL NOT NULL,
    count INTEGER NOT NULL,
    arrays BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    hash TEXT PRIMARY KEY,
    solver TEXT NOT NULL,
    created REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL,
    created REAL NOT NULL,
    incumbent TEXT,
    challenger TEXT NOT NULL,
    incumbent_score REAL,
    challenger_score REAL,
    promoted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS monitoring (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL
);
"""


#: the columns every table must have (an older or foreign schema is refused)
COLUMNS = {
    "labels": ["id", "round", "created", "count", "arrays"],
    "models": ["hash", "solver", "created", "meta"],
    "promotions": [
        "id",
        "round",
        "created",
        "incumbent",
        "challenger",
        "incumbent_score",
        "challenger_score",
        "promoted",
    ],
    "monitoring": ["id", "round", "name", "value"],
}
#: ``PRAGMA user_version`` of this layout
SCHEMA_VERSION = 1


def database_path(location: str | Path) -> Path:
    """A filesystem path from a path or a ``sqlite:///path`` URL."""
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise StoreError(f"unsupported database URL {text!r}; use a path or sqlite:///path")
    if not text or "\x00" in text:
        raise StoreError(f"{text!r} is not a database path")
    return Path(text)


@dataclasses.dataclass(frozen=True)
class Promotion:
    """One challenger-versus-incumbent decision."""

    round: int
    incumbent: str | None
    challenger: str
    incumbent_score: float | None
    challenger_score: float
    promoted: bool


class Store:
    """The cycle's database and model folder.

    Opening a store checks, before any work: that the path is a file (not a directory), that
    the database passes ``PRAGMA integrity_check`` and has this gainnet's tables, that it and
    the model folder are writable, and that no other process has it open for writing (an
    advisory lock on ``<database>.lock``, released when the process ends, even by SIGKILL).
    Every later database error is a :class:`~gainnet.errors.StoreError` naming the file and
    the fix.

    Parameters
    ----------
    location : str or Path
        The SQLite file (or ``sqlite:///path``); its folder gets a ``models/`` subfolder.
    read_only : bool
        Open an existing store to read it (reports, monitoring a running cycle): no lock, no
        write; writing methods then fail with a :class:`~gainnet.errors.StoreError`.
    """

    def __init__(self, location: str | Path, read_only: bool = False) -> None:
        self.path = database_path(location)
        self.read_only = bool(read_only)
        self.fix = f"restore {self.path} from a backup, or start a new store (another database)"
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory; the database must be a file path")
        self.models_dir = self.path.parent / "models"
        self._lock = None
        if self.read_only:
            if not self.path.is_file():
                raise StoreError(f"no store at {self.path}")
            target = f"file:{self.path.resolve().as_posix()}?mode=ro"
        else:
            check_writable(self.path.parent, "store folder")
            check_writable(self.models_dir, "model folder")
            self._lock = self._take_lock()
            target = str(self.path)
        try:
            self._db = sqlite3.connect(target, timeout=10.0, uri=self.read_only)
        except sqlite3.Error as exc:
            self._release_lock()
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _take_lock(self):
        """Refuse a second writer: an exclusive, non-blocking lock on ``<database>.lock``."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return None
        handle = open(self.path.with_name(self.path.name + ".lock"), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError(
                f"{self.path} is in use by another process (a running cycle): one writer at a "
                "time; wait for it to finish or use another database"
            ) from None
        return handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None

    def _open(self) -> None:
        with self._guard("is not a usable gainnet store"):
            status = self._db.execute("PRAGMA integrity_check").fetchone()
            if status is None or status[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {status}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer gainnet (schema {version}); upgrade "
                    "gainnet or start a new store"
                )
            if not self.read_only:
                self._db.executescript(SCHEMA)
            for table, columns in COLUMNS.items():
                found = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise StoreError(
                        f"{self.path}: table {table!r} has columns {found}, this gainnet needs "
                        f"{columns} (an older or foreign schema); start a new store"
                    )
            if not self.read_only:  # a real write: a read-only file is refused now, not later
                with self._db:
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _guard(self, what: str = "failed"):
        """Turn SQLite errors (damaged pages, a read-only file, a full disk) into StoreError."""
        if self.closed:
            raise StoreError(f"{self.path} is closed")
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} {what}: {exc}; {self.fix}") from None

    @property
    def closed(self) -> bool:
        return getattr(self, "_db", None) is None

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None
        self._release_lock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- labels
    def add_labels(self, round_index: int, state: StateBatch, decision: np.ndarray) -> int:
        """Append expert-labelled instances (committed at once); returns how many."""
        arrays = {
            f"state.{f.name}": np.ascontiguousarray(getattr(state, f.name))
            for f in dataclasses.fields(state)
        }
        arrays["decision"] = np.ascontiguousarray(decision)
        if len(decision) != len(state):
            raise GainnetError(f"{len(state)} states but {len(decision)} decisions")
        with self._guard("cannot store labels"), self._db:
            self._db.execute(
                "INSERT INTO labels (round, created, count, arrays) VALUES (?, ?, ?, ?)",
                (int(round_index), time.time(), len(state), save_arrays(arrays)),
            )
        return len(state)

    def label_count(self, round_index: int | None = None) -> int:
        """Stored labels in all (or in round ``round_index``)."""
        query, args = "SELECT COALESCE(SUM(count), 0) FROM labels", ()
        if round_index is not None:
            query, args = query + " WHERE round = ?", (int(round_index),)
        with self._guard("cannot be read"):
            return int(self._db.execute(query, args).fetchone()[0])

    def labels(
        self,
        scenario: Scenario,
        since_round: int | None = None,
        only_round: int | None = None,
    ) -> tuple[StateBatch | None, np.ndarray | None]:
        """Every stored label (those from ``since_round`` on, or of ``only_round``), oldest
        first, as one batch (checked against ``scenario``)."""
        query = "SELECT arrays FROM labels"
        args: tuple = ()
        if since_round is not None:
            query, args = query + " WHERE round >= ?", (int(since_round),)
        elif only_round is not None:
            query, args = query + " WHERE round = ?", (int(only_round),)
        states, decisions = [], []
        state_cls = type(scenario.sample(1, np.random.default_rng(0)))
        with self._guard("cannot be read"):
            blobs = [blob for (blob,) in self._db.execute(query + " ORDER BY id", args)]
        for blob in blobs:
            try:
                arrays = load_arrays(blob)
                decisions.append(arrays.pop("decision"))
                states.append(state_cls(**{k[len("state.") :]: v for k, v in arrays.items()}))
            except (SafetensorError, ValueError, TypeError, KeyError) as exc:
                raise StoreError(
                    f"{self.path}: a stored label batch is corrupt ({exc}); {self.fix}"
                ) from None
        if not states:
            return None, None
        try:
            state = state_cls.concat(states)
            scenario.validate_state(state)
            decision = scenario.check_decision(state, np.concatenate(decisions))
        except (GainnetError, ValueError) as exc:
            raise StoreError(
                f"{self.path}: the stored labels do not fit scenario {scenario.name!r} ({exc}); "
                f"{self.fix}"
            ) from None
        return state, decision

    # ----------------------------------------------------------------- models
    def save_model(self, solver: Solver) -> str:
        """Store the solver's weights under their SHA-256; returns the hash (idempotent)."""
        meta, weights = solver.to_checkpoint()
        digest = sha256_hex(weights)
        target = self.models_dir / f"{digest}.safetensors"
        try:
            if not target.exists():
                partial = target.with_suffix(".partial")
                partial.write_bytes(weights)
                partial.replace(target)  # atomic: a crash never leaves a half-written model
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
        with self._guard("cannot store a model"), self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO models (hash, solver, created, meta) VALUES (?, ?, ?, ?)",
                (digest, solver.name, time.time(), json.dumps(meta)),
            )
        return digest

    def load_model(self, digest: str) -> Solver:
        """Rebuild a stored model; refuses a missing, corrupt or swapped weights file."""
        with self._guard("cannot be read"):
            row = self._db.execute("SELECT meta FROM models WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no model with hash {digest!r}; {self.fix}")
        target = self.models_dir / f"{digest}.safetensors"
        if not target.is_file():
            raise StoreError(f"{target} is missing; {self.fix}")
        weights = target.read_bytes()
        verify_digest(weights, digest, str(target), self.fix)
        try:
            meta = json.loads(row[0])
        except (json.JSONDecodeError, TypeError, RecursionError):
            raise StoreError(
                f"{self.path}: the description of model {digest[:12]} is not valid JSON; {self.fix}"
            ) from None
        where = f"{self.path} model {digest[:12]}"
        return solver_from_checkpoint(validate_checkpoint_meta(meta, where), weights, str(target))

    # ----------------------------------------------------------------- promotions
    def record_promotion(self, promotion: Promotion) -> None:
        with self._guard("cannot record a promotion"), self._db:
            self._db.execute(
                "INSERT INTO promotions (round, created, incumbent, challenger, incumbent_score,"
                " challenger_score, promoted) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    int(promotion.round),
                    time.time(),
                    promotion.incumbent,
                    promotion.challenger,
                    None if promotion.incumbent_score is None else float(promotion.incumbent_score),
                    float(promotion.challenger_score),
                    int(promotion.promoted),
                ),
            )

    def promotions(self) -> list[Promotion]:
        with self._guard("cannot be read"):
            rows = self._db.execute(
                "SELECT round, incumbent, challenger, incumbent_score, challenger_score, promoted"
                " FROM promotions ORDER BY id"
            ).fetchall()
        return [Promotion(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def last_promoted(self) -> str | None:
        """Hash of the model to resume from (the latest promoted one), or ``None``."""
        with self._guard("cannot be read"):
            row = self._db.execute(
                "SELECT challenger FROM promotions WHERE promoted = 1 ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is not None and not (isinstance(row[0], str) and len(row[0]) == 64):
            raise StoreError(f"{self.path}: a promotion names no valid model; {self.fix}")
        return None if row is None else row[0]

    # ----------------------------------------------------------------- monitoring
    def record_metric(self, round_index: int, name: str, value: float) -> None:
        with self._guard("cannot record a metric"), self._db:
            self._db.execute(
                "INSERT INTO monitoring (round, name, value) VALUES (?, ?, ?)",
                (int(round_index), name, float(value)),
            )

    def metric(self, name: str) -> list[tuple[int, float]]:
        """``[(round, value), ...]`` of one monitoring series, in insertion order."""
        with self._guard("cannot be read"):
            rows = self._db.execute(
                "SELECT round, value FROM monitoring WHERE name = ? ORDER BY id", (name,)
            ).fetchall()
        return [(int(r), float(v)) for r, v in rows]
