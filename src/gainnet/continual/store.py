"""Persistence of the retraining cycle in an embedded SQLite database (stdlib ``sqlite3``).

One database file holds every expert-labelled state, every model version, every promotion
decision and the monitoring series; model weights live beside it as safetensors files named by
their SHA-256, so a corrupt or swapped file is detected on load. Every write is its own
transaction: a process killed mid-retrain loses nothing that was already written, and a
restart resumes from :meth:`Store.last_promoted`.

Arrays are stored as safetensors bytes (``safetensors.numpy``), never pickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from gainnet.checkpoint import solver_from_checkpoint, validate_checkpoint_meta
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.solver import Solver
from gainnet.errors import CheckpointError, GainnetError

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


def database_path(location: str | Path) -> Path:
    """A filesystem path from a path or a ``sqlite:///path`` URL."""
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise GainnetError(f"unsupported database URL {text!r}; use a path or sqlite:///path")
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

    Parameters
    ----------
    location : str or Path
        The SQLite file (or ``sqlite:///path``); its folder gets a ``models/`` subfolder.
    """

    def __init__(self, location: str | Path) -> None:
        self.path = database_path(location)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.models_dir = self.path.parent / "models"
        self.models_dir.mkdir(exist_ok=True)
        self._db = sqlite3.connect(self.path)
        try:
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise GainnetError(f"{self.path} is not a gainnet store: {exc}") from None

    def close(self) -> None:
        self._db.close()

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
        with self._db:
            self._db.execute(
                "INSERT INTO labels (round, created, count, arrays) VALUES (?, ?, ?, ?)",
                (int(round_index), time.time(), len(state), save_arrays(arrays)),
            )
        return len(state)

    def label_count(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(count), 0) FROM labels").fetchone()[0])

    def labels(
        self, scenario: Scenario, since_round: int | None = None
    ) -> tuple[StateBatch | None, np.ndarray | None]:
        """Every stored label (or those from ``since_round`` on), oldest first, as one batch."""
        query = "SELECT arrays FROM labels"
        args: tuple = ()
        if since_round is not None:
            query, args = query + " WHERE round >= ?", (int(since_round),)
        states, decisions = [], []
        state_cls = type(scenario.sample(1, np.random.default_rng(0)))
        for (blob,) in self._db.execute(query + " ORDER BY id", args):
            try:
                arrays = load_arrays(blob)
            except (SafetensorError, ValueError) as exc:
                raise GainnetError(f"{self.path}: a stored label batch is corrupt: {exc}") from None
            decisions.append(arrays.pop("decision"))
            states.append(state_cls(**{k[len("state.") :]: v for k, v in arrays.items()}))
        if not states:
            return None, None
        state = state_cls.concat(states)
        scenario.validate_state(state)
        return state, np.concatenate(decisions)

    # ----------------------------------------------------------------- models
    def save_model(self, solver: Solver) -> str:
        """Store the solver's weights under their SHA-256; returns the hash (idempotent)."""
        meta, weights = solver.to_checkpoint()
        digest = hashlib.sha256(weights).hexdigest()
        target = self.models_dir / f"{digest}.safetensors"
        if not target.exists():
            partial = target.with_suffix(".partial")
            partial.write_bytes(weights)
            partial.replace(target)  # atomic: a crash never leaves a half-written model
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO models (hash, solver, created, meta) VALUES (?, ?, ?, ?)",
                (digest, solver.name, time.time(), json.dumps(meta)),
            )
        return digest

    def load_model(self, digest: str) -> Solver:
        """Rebuild a stored model; refuses a missing, corrupt or swapped weights file."""
        row = self._db.execute("SELECT meta FROM models WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise CheckpointError(f"{self.path}: no model with hash {digest!r}")
        target = self.models_dir / f"{digest}.safetensors"
        if not target.is_file():
            raise CheckpointError(f"{target} is missing")
        weights = target.read_bytes()
        if hashlib.sha256(weights).hexdigest() != digest:
            raise CheckpointError(f"{target} does not match its hash: the file is corrupt")
        meta = validate_checkpoint_meta(json.loads(row[0]), f"{self.path} model {digest[:12]}")
        return solver_from_checkpoint(meta, weights, str(target))

    # ----------------------------------------------------------------- promotions
    def record_promotion(self, promotion: Promotion) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO promotions (round, created, incumbent, challenger, incumbent_score,"
                " challenger_score, promoted) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    promotion.round,
                    time.time(),
                    promotion.incumbent,
                    promotion.challenger,
                    promotion.incumbent_score,
                    promotion.challenger_score,
                    int(promotion.promoted),
                ),
            )

    def promotions(self) -> list[Promotion]:
        rows = self._db.execute(
            "SELECT round, incumbent, challenger, incumbent_score, challenger_score, promoted"
            " FROM promotions ORDER BY id"
        )
        return [Promotion(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def last_promoted(self) -> str | None:
        """Hash of the model to resume from (the latest promoted one), or ``None``."""
        row = self._db.execute(
            "SELECT challenger FROM promotions WHERE promoted = 1 ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else row[0]

    # ----------------------------------------------------------------- monitoring
    def record_metric(self, round_index: int, name: str, value: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO monitoring (round, name, value) VALUES (?, ?, ?)",
                (int(round_index), name, float(value)),
            )

    def metric(self, name: str) -> list[tuple[int, float]]:
        """``[(round, value), ...]`` of one monitoring series, in insertion order."""
        rows = self._db.execute(
            "SELECT round, value FROM monitoring WHERE name = ? ORDER BY id", (name,)
        )
        return [(int(r), float(v)) for r, v in rows]
