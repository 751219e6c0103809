"""npinfer serve: models over HTTP, KServe v2 (Open Inference Protocol, with Triton's binary
tensors) and TF Serving REST, with dynamic batching.

    from npinfer.serve import create_app, run
    app = create_app({"rnn": npinfer.load("rnn.keras")})   # an ASGI app for your own server
    run({"rnn": model}, host="127.0.0.1", port=8000)         # or uvicorn, with graceful SIGTERM

Needs the optional extra: pip install 'npinfer[serve]' (starlette, uvicorn); the runtime
itself never imports them.
"""

from __future__ import annotations

import logging

INSTALL_HINT = "npinfer serve needs starlette and uvicorn: pip install 'npinfer[serve]'"

__all__ = ["INSTALL_HINT", "create_app", "missing_extra", "run"]


def missing_extra() -> str | None:
    """The install hint when starlette or uvicorn is missing, else None."""
    missing = []
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return f"{INSTALL_HINT} (missing: {', '.join(missing)})" if missing else None


def create_app(models: dict, **options):
    """An ASGI (Starlette) app serving `models` ({name: npinfer.Model}); see app.create_app."""
    hint = missing_extra()
    if hint:
        raise ImportError(hint)
    from .app import create_app as make

    return make(models, **options)


def run(models: dict, host: str = "127.0.0.1", port: int = 8000, *, graceful_timeout_s: float = 30,
        log_level: str = "info", **options) -> None:
    """Serve `models` with uvicorn until SIGINT / SIGTERM, which stop accepting connections,
    finish the requests in flight (up to graceful_timeout_s) and return."""
    app = create_app(models, **options)
    import uvicorn

    logger = logging.getLogger("npinfer.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(log_level.upper())
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=graceful_timeout_s, timeout_keep_alive=30)
