"""The npinfer version (its own module, so that the modules that write it need not import the package)."""

__version__ = "0.1.0"
