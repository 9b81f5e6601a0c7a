"""Finished batches on disk: one JSON file per batch, written atomically, so an interrupted
sweep keeps every finished batch and ``--resume`` skips them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import TentnetError
from ..io import atomic_write_text


class Store:
    """``out/runs/<key>.json`` for each finished batch."""

    def __init__(self, out: Path) -> None:
        self.root = Path(out) / "runs"

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether a finished, readable record of the batch is here (an emptied or damaged
        one counts as not finished, so ``--resume`` runs the batch again)."""
        try:
            self.load(key)
        except TentnetError:
            return False
        return True

    def load(self, key: str) -> dict[str, Any]:
        path = self.path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise TentnetError(f"{path}: unreadable run record ({exc})") from None
        if not (
            isinstance(record, dict)
            and isinstance(record.get("job"), dict)
            and isinstance(record.get("runs"), list)
            and isinstance(record.get("seconds"), (int, float))
            and record.get("key") == key
        ):
            raise TentnetError(f"{path}: not a complete run record of batch {key}")
        return record

    def save(self, key: str, record: dict[str, Any]) -> None:
        atomic_write_text(self.path(key), json.dumps(record, indent=1) + "\n")

    def clear(self) -> None:
        if self.root.is_dir():
            for p in self.root.glob("*.json"):
                p.unlink()
