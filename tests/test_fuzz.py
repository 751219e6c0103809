"""2,000 mutated model files: each loads (and predicts) or raises an NpinferError, never
anything else, never hangs (10 s per case), never exceeds 3 GB of address space."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FUZZ = Path(__file__).parent / "fuzz.py"


def test_two_thousand_mutated_files_only_raise_npinfer_errors():
    done = subprocess.run([sys.executable, str(FUZZ), "--cases", "2000", "--seed", "0"], capture_output=True, text=True, timeout=900)
    assert done.stdout.strip(), done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{"):])
    assert report["cases"] == 2000
    assert report["findings"] == [], json.dumps(report["findings"][:5], indent=1)
