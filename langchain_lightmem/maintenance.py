"""Offline maintenance of a data folder.

Deleting rows in SQLite leaves their bytes in free pages until the file is vacuumed; Chroma's embedded store is
SQLite too. After ``forget`` (personal data) run :func:`vacuum` while no process has the folder open, so deleted
text is gone from disk as well as from every API. (The journal itself zeroes deleted rows: ``secure_delete``.)
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from langchain_lightmem.config import LightMemConfig
from langchain_lightmem.errors import ConfigurationError, StoreError


def _chroma_cli() -> str:
    found = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not found:
        raise ConfigurationError("the 'chroma' command (shipped with the chromadb package) is not on PATH")
    return found


def vacuum(config: LightMemConfig) -> list[str]:
    """Compact the journal and the embedded Chroma of ``config.data_dir``. Returns what was vacuumed.

    Run it when no process has the folder open. A Chroma server (``chroma.mode='http'``) is not touched: vacuum
    it where it runs (``chroma vacuum --path DIR``).

    Raises:
        StoreError: the folder is in use or Chroma's vacuum failed.
    """
    done: list[str] = []
    if config.journal_path.exists():
        conn = sqlite3.connect(config.journal_path, timeout=5.0)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot vacuum {config.journal_path} ({exc}); is another process using it?") from exc
        finally:
            conn.close()
        done.append(str(config.journal_path))
    if config.chroma.mode == "persistent" and (config.chroma_path / "chroma.sqlite3").exists():
        proc = subprocess.run(
            [_chroma_cli(), "vacuum", "--path", str(config.chroma_path), "--force"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise StoreError(f"chroma vacuum failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        done.append(str(config.chroma_path))
    return done
