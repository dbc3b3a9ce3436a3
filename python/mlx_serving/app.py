"""Wiring: config, stdio transport, dispatcher, engine, HTTP front; the
process lifecycle.

Threads: the main thread runs the engine (it owns MLX), a reader thread
turns stdin lines into calls, a writer thread owns stdout, and with --http
an event loop thread serves HTTP. The process exits 0 after
runtime/shutdown, at EOF on stdin (after finishing in-flight streams), or on
SIGTERM/SIGINT (after cancelling them; with --no-stdio after finishing them;
signals.py sees to it that a signal is never missed and that a stuck engine
cannot outlast it).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from . import cpu_blas
from .api.envelope import Notification
from .api.messages import DeviceInfo, DistributedParams
from .config import DEFAULT_CONFIG_PATH, ConfigError, PreloadModel, RuntimeConfig, load_config
from .engine.engine import Engine, PreloadError
from .handlers import build_handlers
from .handlers.notifications import merge_chunks, notifier
from .ops.flags import FeatureFlagsFile, default_flags_path, load_flags
from .ops.service import Ops
from .rpc.dispatcher import Dispatcher
from .service import Services
from .signals import SignalWatcher
from .transport.stdio import MessageWriter, read_lines

if TYPE_CHECKING:
    from .http.server import HttpServer

log = logging.getLogger("mlx_serving")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="runtime.py", description="mlx-serving: JSON-RPC 2.0 over stdio (NDJSON).")
    parser.add_argument("--config", type=Path,
                        default=Path(os.environ.get("MLX_SERVING_CONFIG", DEFAULT_CONFIG_PATH)),
                        help="runtime.yaml (default: $MLX_SERVING_CONFIG or config/runtime.yaml)")
    parser.add_argument("--flags", type=Path, default=default_flags_path(),
                        help="feature-flags.yaml (default: $MLX_SERVING_FLAGS or "
                             "config/feature-flags.yaml)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="overrides logging.level of the config")
    parser.add_argument("--http", metavar="HOST:PORT",
                        help="also serve the OpenAI and Anthropic APIs over HTTP "
                             "(HOST defaults to 127.0.0.1; port 0 picks a free one)")
    parser.add_argument("--model", action="append", default=[], metavar="PATH[=ID]",
                        help="load and warm up this model (a folder or a .gguf file) at "
                             "start-up; its id is the folder or file name unless =ID names "
                             "one. Repeatable; added to the config's model_preload")
    parser.add_argument("--distributed", metavar="HOSTS|HOSTFILE",
                        help="shard the --model over several processes: its hosts, comma "
                             "separated (rank 0, this machine, first), or an mlx.launch "
                             "hostfile; ring backend unless the hostfile names another")
    parser.add_argument("--no-stdio", action="store_true",
                        help="serve HTTP alone: no JSON-RPC on stdin/stdout; run until "
                             "SIGTERM/SIGINT, which finishes in-flight streams first")
    parser.add_argument("--api-key", default=os.environ.get("MLX_SERVING_API_KEY") or None,
                        help="HTTP requests must send it (Bearer or x-api-key); default "
                             "$MLX_SERVING_API_KEY, none when unset")
    args = parser.parse_args(argv)
    if args.no_stdio and not args.http:
        parser.error("--no-stdio needs --http: there would be nothing to serve")
    if args.distributed and len(args.model) != 1:
        parser.error("--distributed shards one --model (MLX forms one group per process)")
    return args


def _model_entry(text: str, distributed: str | None) -> PreloadModel:
    """--model PATH[=ID]: the id defaults to the folder name, or the file name
    without .gguf. --distributed: a hostfile, or hosts separated by commas."""
    path, _, model_id = text.rpartition("=") if "=" in text else (text, "", "")
    local = Path(path).expanduser()
    default = local.stem if local.suffix == ".gguf" else local.name
    group = None if distributed is None else DistributedParams(hostfile=distributed) \
        if Path(distributed).is_file() else DistributedParams(hosts=distributed.split(","))
    return PreloadModel(path=str(local.resolve()) if local.exists() else path,
                        model_id=model_id or default or path, distributed=group)


def _detect_device() -> DeviceInfo:
    import mlx.core as mx

    device = mx.default_device()
    info = mx.device_info()
    name = str(info.get("device_name") or info.get("architecture") or device)
    return DeviceInfo(type="gpu" if device.type == mx.gpu else "cpu", name=name)


def _serve_stdin(dispatcher: Dispatcher, engine: Engine, max_bytes: int) -> None:
    for line in read_lines(sys.stdin.buffer, max_bytes):
        dispatcher.handle_line(line)
    log.info("stdin closed")
    engine.shutdown(drain=True)


def _http_server(args: argparse.Namespace, config: RuntimeConfig,
                 services: Services) -> HttpServer | None:
    if not args.http:
        return None
    # Imported only here: a stdio-only runtime starts without the ASGI stack.
    from .http.app import HttpSettings, build_app
    from .http.backend import Backend
    from .http.server import HttpServer, parse_address

    host, port = parse_address(args.http)
    settings = HttpSettings(max_body_bytes=config.http.max_body_bytes,
                            stream_buffer_tokens=config.http.stream_buffer_tokens,
                            chunk_interval_s=config.transport.chunk_interval_ms / 1000,
                            cors_origins=config.http.cors_origins, api_key=args.api_key)
    return HttpServer(build_app(Backend(services), settings), host, port)


def main(argv: list[str], protocol_fd: int) -> int:
    args = _parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config: RuntimeConfig = load_config(args.config)
        flags: FeatureFlagsFile = load_flags(args.flags)
    except ConfigError as exc:
        log.error("bad config: %s", exc)
        return 2
    logging.getLogger().setLevel((args.log_level or config.logging.level).upper())
    config.model_preload.models.extend(_model_entry(text, args.distributed)
                                       for text in args.model)
    log.info("CPU BLAS: %s", cpu_blas.loaded or "MLX's bundled reference BLAS")
    if cpu_blas.problem:
        log.warning("%s", cpu_blas.problem)

    # HTTP alone: notifications (runtime/ready, qos/violation) have no reader.
    out = open(os.devnull, "wb") if args.no_stdio else os.fdopen(protocol_fd, "wb")  # noqa: SIM115 -- the writer owns it

    def on_broken() -> None:  # nobody reads our answers: stop
        engine.shutdown(drain=False)

    writer = MessageWriter(out, merge=merge_chunks, on_broken=on_broken,
                           hold_s=config.transport.chunk_interval_ms / 1000)
    engine = Engine(config, writer)
    ops = Ops(config, args.config, flags, args.flags, engine, notifier(writer.send))
    # Blocking work that needs no MLX (image files and downloads, tokenizer
    # files) runs here, off the fronts' threads and the engine's.
    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="worker")
    # Both fronts call the same services.
    services = Services.build(engine, _detect_device(), ops, workers)
    dispatcher = Dispatcher(build_handlers(services, writer), writer.send,
                            on_error=lambda error: ops.metrics.rpc_error(error.code.name))
    try:
        http = _http_server(args, config, services)
    except (OSError, ValueError) as exc:
        log.error("--http %s: %s", args.http, exc)
        return 2

    def on_stop(signum: signal.Signals) -> None:
        drain = args.no_stdio  # HTTP alone: the signal is its only way to stop
        log.info("%s: %s in-flight streams", signum.name, "finishing" if drain else "cancelling")
        engine.shutdown(drain=drain)

    def on_hangup(_: signal.Signals) -> None:
        threading.Thread(target=ops.reload_logged, name="reload", daemon=True).start()

    def exit_now() -> None:
        writer.close(timeout=1.0)
        logging.shutdown()
        os._exit(1)

    stops = frozenset({signal.SIGTERM, signal.SIGINT})
    SignalWatcher({signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_hangup},
                  stops, config.transport.stop_grace_s, exit_now).install()
    ops.start()
    if http is not None:
        http.start()
    if not args.no_stdio:
        threading.Thread(target=_serve_stdin, name="reader", daemon=True,
                         args=(dispatcher, engine, config.transport.max_message_bytes)).start()

    try:
        engine.preload(announce=lambda ready: writer.send(
            Notification(method="runtime/ready", params=ready)))
    except PreloadError as exc:
        log.error("preload failed: %s", exc)
        if http is not None:
            http.stop()
        ops.stop()
        writer.close()
        return 2
    engine.run()
    if http is not None:
        http.stop()
    ops.stop()
    writer.close()
    log.info("bye")
    return 0
