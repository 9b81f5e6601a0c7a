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
        return self.path(key).is_file()

    def load(self, key: str) -> dict[str, Any]:
        try:
            return json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TentnetError(f"{self.path(key)}: unreadable run record ({exc})") from None

    def save(self, key: str, record: dict[str, Any]) -> None:
        atomic_write_text(self.path(key), json.dumps(record, indent=1) + "\n")

    def clear(self) -> None:
        if self.root.is_dir():
            for p in self.root.glob("*.json"):
                p.unlink()
