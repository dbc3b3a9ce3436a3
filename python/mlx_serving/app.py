"""Wiring: config, stdio transport, dispatcher, engine; the process lifecycle.

Threads: the main thread runs the engine (it owns MLX), a reader thread
turns stdin lines into calls, a writer thread owns stdout. The process exits
0 after runtime/shutdown, at EOF on stdin (after finishing in-flight
streams), or on SIGTERM/SIGINT (after cancelling them; signals.py sees to
it that a signal is never missed and that a stuck engine cannot outlast it).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .api.envelope import Notification
from .api.messages import DeviceInfo
from .config import DEFAULT_CONFIG_PATH, ConfigError, RuntimeConfig, load_config
from .engine.engine import Engine, PreloadError
from .engine.stream import merge_chunks
from .handlers import build_handlers
from .ops.flags import FeatureFlagsFile, default_flags_path, load_flags
from .ops.service import Ops
from .rpc.dispatcher import Dispatcher
from .signals import SignalWatcher
from .transport.stdio import MessageWriter, read_lines

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
    return parser.parse_args(argv)


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

    out = os.fdopen(protocol_fd, "wb")
    writer = MessageWriter(out, merge=merge_chunks,
                           on_broken=lambda: engine.shutdown(drain=False),
                           hold_s=config.transport.chunk_interval_ms / 1000)
    engine = Engine(config, writer)
    ops = Ops(config, args.config, flags, args.flags, engine, writer.send)
    dispatcher = Dispatcher(build_handlers(engine, writer, _detect_device(), ops), writer.send,
                            on_error=lambda error: ops.metrics.rpc_error(error.code.name))

    def on_stop(signum: signal.Signals) -> None:
        log.info("%s: cancelling in-flight streams", signum.name)
        engine.shutdown(drain=False)

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
    threading.Thread(target=_serve_stdin, name="reader", daemon=True,
                     args=(dispatcher, engine, config.transport.max_message_bytes)).start()

    try:
        engine.preload(announce=lambda ready: writer.send(
            Notification(method="runtime/ready", params=ready)))
    except PreloadError as exc:
        log.error("preload failed: %s", exc)
        ops.stop()
        writer.close()
        return 2
    engine.run()
    ops.stop()
    writer.close()
    log.info("bye")
    return 0
