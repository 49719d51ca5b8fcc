"""Prove an installed wheel (not the source tree) carries its mappings and migrations.

Run from outside the repository with PYTHONPATH pointing at the wheel's install target.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import crmbridge
from crmbridge.store import open_store

target = Path(sys.argv[1]).resolve()
package = Path(crmbridge.__file__).resolve().parent
assert package.is_relative_to(target), f"crmbridge imported from {package}, not from the wheel"

shipped = package / "_shipped_mappings"
missing = [n for n in ("zoho.yaml", "csv.yaml", "webhook.yaml") if not (shipped / n).is_file()]
assert not missing, f"the wheel lacks mappings: {missing}"

with tempfile.TemporaryDirectory() as folder:
    store = open_store(f"sqlite:///{folder}/hub.db")
    assert store.is_current(), "migrations did not run from the wheel"
    store.close()
print(f"wheel ok: {package}")
