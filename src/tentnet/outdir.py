"""Output folders written as a whole: every file of a run appears at once, or none does.

:class:`OutputSet` checks the folder before any work (so an unusable ``--out`` costs nothing),
writes every file into a fresh hidden folder beside it, adds a manifest, and renames the folder
into place when the set is complete. Used as a context manager, an interrupted or failed run
removes its hidden folder and leaves ``--out`` as it was; two runs into the same folder never
mix their files (the second rename fails and that run says so). An existing folder with files
in it is refused unless ``overwrite``, which replaces it whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from .errors import TentnetError
from .io import atomic_write_text, current_umask

MANIFEST = "manifest.json"


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved)."""
    return path == folder or folder in path.parents


class OutputSet:
    """A set of files for the folder ``out``, written by :meth:`path` and :meth:`commit`.

    Args:
        out: the destination folder.
        overwrite: replace an existing folder that holds files (never one that holds an input).
        inputs: files the run reads; a destination that is one of them, or holds one, is refused.
        flag: how the folder is named in messages (``--out``).
    """

    def __init__(
        self,
        out: str | Path,
        *,
        overwrite: bool = False,
        inputs: tuple[str | Path, ...] = (),
        flag: str = "--out",
    ) -> None:
        if str(out).strip() == "":
            raise TentnetError(f"{flag} must name a folder")
        self.out = Path(out)
        self.flag = flag
        self.overwrite = overwrite
        dest = self.out.resolve()
        if inside(Path.cwd().resolve(), dest):
            raise TentnetError(f"{flag} {out} is (or holds) the current folder; name a new folder")
        for item in inputs:
            src = Path(item).resolve()
            if inside(src, dest):
                raise TentnetError(f"{flag} {out} holds the input {item}; choose another folder")
        if self.out.exists() or self.out.is_symlink():
            if not self.out.is_dir():
                raise TentnetError(f"{flag} {out} exists and is not a folder")
            if any(self.out.iterdir()) and not overwrite:
                raise TentnetError(
                    f"{flag} {out} already holds files; pass --overwrite to replace it whole, "
                    f"or choose a new folder"
                )
        parent = dest.parent
        blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise TentnetError(f"{flag} {out}: {blocker} is a file, not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.", suffix=".tmp"))
        except OSError as exc:
            raise TentnetError(f"{flag} {out}: cannot write there ({exc.strerror})") from None
        os.chmod(self.tmp, 0o777 & ~current_umask())
        self.files: list[str] = []
        self.done = False

    def path(self, name: str) -> Path:
        """Where to write the set's file ``name`` (a relative path such as ``seed-3/x.json``)."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"not a relative file name: {name!r}")
        full = self.tmp / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        self.files.append(rel.as_posix())
        return full

    def commit(self) -> Path:
        """Write the manifest and move the set into place; returns the folder."""
        entries = []
        for rel in sorted(set(self.files)):
            full = self.tmp / rel
            if full.is_file():
                data = full.read_bytes()
                entries.append(
                    {"file": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                )
        atomic_write_text(self.tmp / MANIFEST, json.dumps({"files": entries}, indent=1) + "\n")
        old = None
        if self.out.is_dir() and any(self.out.iterdir()) and not self.overwrite:
            raise TentnetError(
                f"{self.flag} {self.out}: another run wrote there meanwhile; nothing of this "
                f"run was kept"
            )
        if self.out.exists() and self.overwrite:
            old = Path(tempfile.mkdtemp(dir=self.tmp.parent, prefix=f".{self.out.name}.old."))
            os.replace(self.out, old / "previous")
        try:
            os.rename(self.tmp, self.out)
        except OSError as exc:
            if old is not None:
                os.replace(old / "previous", self.out)
                shutil.rmtree(old, ignore_errors=True)
            raise TentnetError(
                f"{self.flag} {self.out}: could not move the finished files into place "
                f"({exc.strerror}); another run may have written there meanwhile"
            ) from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.done = True
        return self.out

    def abort(self) -> None:
        """Remove the unfinished set (``--out`` stays as it was)."""
        if not self.done:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Remove an unfinished set; a failed write of one of its files is reported against
        the destination folder (not the hidden working one) as a TentnetError."""
        self.abort()
        if isinstance(exc, OSError) and exc.filename is not None:
            where = Path(str(exc.filename))
            if self.tmp in where.parents:
                raise TentnetError(
                    f"{self.flag} {self.out}: could not write {where.relative_to(self.tmp)} "
                    f"({exc.strerror}); nothing of this run was kept"
                ) from None
