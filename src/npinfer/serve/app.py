"""The ASGI application: KServe v2 and TF Serving REST routes over a Batcher per model."""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InputError, NpinferError, ResourceLimitError
from ..version import __version__
from . import kserve, tfserving
from .batcher import Batcher
from .errors import RequestError, bad_request, not_found
from .metrics import Metrics

log = logging.getLogger("npinfer.serve")
VERSION = "1"  # every model is served as version 1


def _json(value, status: int = 200) -> Response:
    return Response(json.dumps(value), status, media_type="application/json")


class Server:
    """The models, their batchers and the metrics behind the routes."""

    def __init__(self, models: dict, max_batch_size: int, max_delay_ms: float, max_queue: int, max_body_bytes: int, threads: int):
        if not models:
            raise ValueError("serve needs at least one model")
        self.models = dict(models)
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics()
        self.batchers = {name: Batcher(model, name, self.metrics, max_batch_size, max_delay_ms / 1000, max_queue, threads)
                         for name, model in self.models.items()}

    def model(self, name: str, version: str | None):
        if name not in self.models:
            raise not_found(f"unknown model {name!r}; served: {', '.join(self.models)}")
        if version is not None and version != VERSION:
            raise not_found(f"model '{name}' has no version {version!r}; served: {VERSION}")
        return self.models[name]

    async def body(self, request: Request) -> bytes:
        """The request body, refused with 413 past max_body_bytes (before reading when declared)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise RequestError(413, f"the body of {int(declared):,} bytes is over the limit of {self.max_body_bytes:,} (--max-body-mb)")
        encoding = request.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise RequestError(415, f"Content-Encoding {encoding!r} is not supported; send the body uncompressed")
        if declared is not None and declared.isdigit():
            return await request.body()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise RequestError(413, f"the body is over the limit of {self.max_body_bytes:,} bytes (--max-body-mb)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(self, name: str, model, arrays: dict) -> list:
        try:
            prepared = model.prepare_inputs(arrays)
        except ResourceLimitError as err:
            raise RequestError(413, str(err)) from None
        except InputError as err:
            raise bad_request(str(err)) from None
        try:
            return await self.batchers[name].submit(prepared)
        except ResourceLimitError as err:
            raise RequestError(413, str(err)) from None
        except InputError as err:
            raise bad_request(str(err)) from None

    # -- routes -------------------------------------------------------------------------------

    async def live(self, request):
        return _json({"live": True})

    async def ready(self, request):
        return _json({"ready": True})

    async def server_metadata(self, request):
        return _json({"name": "npinfer", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def v2_model(self, request):
        name, version = request.path_params["name"], request.path_params.get("version")
        return _json(kserve.metadata(self.model(name, version), name, VERSION))

    async def v2_ready(self, request):
        name = request.path_params["name"]
        self.model(name, request.path_params.get("version"))
        return _json({"name": name, "ready": True})

    async def v2_infer(self, request):
        name = request.path_params["name"]
        model = self.model(name, request.path_params.get("version"))
        body = await self.body(request)
        parsed = kserve.parse_infer(body, request.headers.get(kserve.HEADER_LENGTH), model)
        results = await self.predict(name, model, parsed.arrays)
        content, headers = kserve.encode_infer(parsed, model.output_names, results, name, VERSION)
        return Response(content, 200, headers=headers)

    async def v1(self, request):
        """/v1/models/{name}[/versions/{v}][/metadata | :predict]."""
        rest = request.path_params["rest"]
        verb = None
        if ":" in rest:
            rest, verb = rest.rsplit(":", 1)
        parts = rest.split("/")
        name, version, tail = parts[0], None, parts[1:]
        if len(tail) >= 2 and tail[0] == "versions":
            version, tail = tail[1], tail[2:]
        if tail not in ([], ["metadata"]) or (verb is not None and tail):
            raise not_found(f"no route /v1/models/{request.path_params['rest']}")
        model = self.model(name, version)
        if verb is not None:
            if verb != "predict":
                raise bad_request(f"':{verb}' is not supported; this server answers ':predict'")
            if request.method != "POST":
                raise RequestError(405, "':predict' takes POST")
            arrays, rows = tfserving.parse_predict(await self.body(request), model)
            results = await self.predict(name, model, arrays)
            return _json(tfserving.encode_predict(model.output_names, results, rows))
        if request.method != "GET":
            raise RequestError(405, f"{request.method} is not allowed here; use GET")
        return _json(tfserving.metadata(model, name, VERSION) if tail else tfserving.status(VERSION))

    async def metrics_text(self, request):
        pending = {name: batcher.pending for name, batcher in self.batchers.items()}
        return Response(self.metrics.text(pending), media_type="text/plain; version=0.0.4")


def _protocol(path: str) -> str:
    return "kserve" if path.startswith("/v2") else "tfserving" if path.startswith("/v1") else "other"


def _handled(server: Server, endpoint):
    """An endpoint with errors as {"error": ...}, metrics, and one log line per request."""
    async def handle(request: Request):
        started = time.perf_counter()
        try:
            response = await endpoint(request)
        except RequestError as err:
            response = _json({"error": err.message}, err.status)
        except NpinferError as err:
            response = _json({"error": str(err)}, 400)
        except Exception as err:
            log.exception("internal error on %s %s", request.method, request.url.path)
            response = _json({"error": f"internal error: {type(err).__name__}: {err}"}, 500)
        seconds = time.perf_counter() - started
        path = request.url.path
        name = request.path_params.get("name") or request.path_params.get("rest", "").split("/")[0].split(":")[0]
        model = name if name in server.models else ""
        server.metrics.record(model, _protocol(path), response.status_code, seconds)
        if log.isEnabledFor(logging.INFO):
            client = request.client
            log.info('%s "%s %s" %d %.2f ms', f"{client.host}:{client.port}" if client else "-", request.method, path,
                     response.status_code, seconds * 1000)
        return response
    return handle


def create_app(models: dict, *, max_batch_size: int = 32, max_delay_ms: float = 2.0, max_queue: int = 1024,
               max_body_mb: float = 64, threads: int = 2) -> Starlette:
    """An ASGI (Starlette) app serving `models` ({name: npinfer.Model}) over KServe v2 and TF
    Serving REST. max_batch_size 1 turns dynamic batching off; max_queue: requests waiting per
    model before 503; max_body_mb: the largest request body (413 past it)."""
    server = Server(models, max_batch_size, max_delay_ms, max_queue, int(max_body_mb * 1024 * 1024), threads)

    def route(path, endpoint, methods=("GET",)):
        return Route(path, _handled(server, endpoint), methods=list(methods))

    routes = [
        route("/v2/health/live", server.live), route("/v2/health/ready", server.ready), route("/v2", server.server_metadata),
        route("/v2/models/{name}", server.v2_model), route("/v2/models/{name}/versions/{version}", server.v2_model),
        route("/v2/models/{name}/ready", server.v2_ready), route("/v2/models/{name}/versions/{version}/ready", server.v2_ready),
        route("/v2/models/{name}/infer", server.v2_infer, ["POST"]),
        route("/v2/models/{name}/versions/{version}/infer", server.v2_infer, ["POST"]),
        route("/v1/models/{rest:path}", server.v1, ["GET", "POST"]),
        route("/metrics", server.metrics_text),
    ]

    @asynccontextmanager
    async def lifespan(app):
        for batcher in server.batchers.values():
            batcher.start()
        yield
        for batcher in server.batchers.values():
            await batcher.stop()

    async def http_error(request, exc: HTTPException):
        server.metrics.record("", _protocol(request.url.path), exc.status_code, 0.0)
        log.info('"%s %s" %d', request.method, request.url.path, exc.status_code)
        return _json({"error": f"{exc.detail}: {request.method} {request.url.path}"}, exc.status_code)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.server = server
    return app
