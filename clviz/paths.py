"""Where clviz keeps what it computes: one home for the cache folder, importable without torch
(the CLI reads its option table from here before it imports the engine)."""
from __future__ import annotations

import os
from pathlib import Path

CACHE = Path(os.environ.get("CLVIZ_CACHE_DIR") or Path(__file__).resolve().parent.parent / "cache")
