"""Regenerate the committed golden fixtures in tests/fixtures/ (needs TensorFlow and tf-keras).

They let the loader tests run where TensorFlow is absent: small `.keras` and `.h5` files
written by Keras 3 and by tf-keras 2.x, with their inputs and Keras's outputs.

    python tests/make_golden_fixtures.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    target = HERE / "fixtures"
    processes = []
    for flavor in ("keras3", "tf_keras"):
        out = target / flavor
        shutil.rmtree(out, ignore_errors=True)
        processes.append(subprocess.Popen(
            [sys.executable, str(HERE / "generate_fixtures.py"), "--flavor", flavor, "--out", str(out), "--golden"]))
    return max(p.wait() for p in processes)


if __name__ == "__main__":
    sys.exit(main())
