"""The parity tests need TensorFlow, Keras 3, tf-keras and PyTorch: their absence is a failure, not a skip."""

from __future__ import annotations

import subprocess
import sys


def test_tensorflow_keras_and_tf_keras_import():
    code = "import tensorflow, keras, tf_keras; print(keras.__version__, tf_keras.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, (
        "TensorFlow, Keras 3 and tf-keras must be installed for the parity tests: pip install -e '.[test]'\n"
        + done.stderr[-2000:]
    )
    keras_version, tf_keras_version = done.stdout.split()[-2:]
    assert keras_version.startswith("3.") and tf_keras_version.startswith("2.")


def test_torch_imports():
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    assert done.returncode == 0, "PyTorch must be installed for the from_torch parity tests: pip install -e '.[test]'\n" + done.stderr[-2000:]
