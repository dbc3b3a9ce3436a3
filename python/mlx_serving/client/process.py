"""One running runtime process: protocol lines out of stdout, messages into
stdin, stderr lines for logs, and one exit report after the last line.

One reader thread per pipe; the stdout reader is the only thread that hands
protocol lines on, in order. Flow control pauses it (see flow.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from .errors import EngineError
from .lines import LineSplitter

STDERR_TAIL_LINES = 40
_MAX_STDERR_LINE_BYTES = 64 * 1024
_READ_BYTES = 64 * 1024
# After exit, how long to wait for the pipes to reach EOF (a grandchild may hold them).
_DRAIN_AFTER_EXIT_S = 1.0
_LOG_LINE_CHARS = 2000


@dataclass(frozen=True)
class LaunchSpec:
    python_path: str
    runtime_path: str
    config_path: str | None
    flags_path: str | None
    env: Mapping[str, str]
    cwd: str


@dataclass(frozen=True)
class ExitInfo:
    code: int | None
    # The signal that killed it ("SIGKILL", ...), or None.
    signal: str | None


class ProcessHandlers(Protocol):
    def line(self, line: bytes) -> None: ...
    def oversized(self, size: int) -> None: ...
    def stderr(self, line: str) -> None: ...
    # Called once, after every line the process wrote was handed over.
    def exited(self, info: ExitInfo) -> None: ...


class RuntimeProcess:
    def __init__(self, spec: LaunchSpec, handlers: ProcessHandlers, *, max_line_bytes: int,
                 log: Callable[[str], None] | None) -> None:
        self._handlers = handlers
        self._log = log
        self._proc = _spawn(spec)
        self.pid = self._proc.pid
        self.args: list[str] = _command(spec)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._may_read = threading.Event()
        self._may_read.set()
        self._dead = False
        self._stdout_done = threading.Event()
        self._stderr_done = threading.Event()
        self._exited = threading.Event()
        self.exit_info: ExitInfo | None = None
        self._max_line_bytes = max_line_bytes

    def start(self) -> None:
        """Starts reading its pipes (what it wrote meanwhile waits in them)."""
        stdout = LineSplitter(self._max_line_bytes, self._on_line, self._handlers.oversized)
        stderr = LineSplitter(_MAX_STDERR_LINE_BYTES, self._on_stderr, self._on_long_stderr)
        for name, target in (("stdout", lambda: self._read(self._proc.stdout, stdout, self._stdout_done)),
                             ("stderr", lambda: self._read(self._proc.stderr, stderr, self._stderr_done)),
                             ("exit", self._wait)):
            threading.Thread(target=target, name=f"mlx-serving-{name}-{self.pid}", daemon=True).start()

    @property
    def alive(self) -> bool:
        with self._state_lock:
            return not self._dead

    def send(self, data: bytes) -> bool:
        """Writes one encoded line; False when the runtime's stdin is closed."""
        stdin = self._proc.stdin
        if stdin is None or not self.alive:
            return False
        if self._log is not None:
            self._log(f"→ {_clip(data.decode('utf-8', 'replace').rstrip())}")
        with self._write_lock:
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError):  # a dead runtime (EPIPE) or closed stdin: the exit report covers it
                return False
        return True

    def pause(self) -> None:
        """Flow control: stop taking lines from stdout while consumers are behind."""
        with self._state_lock:
            if not self._dead:
                self._may_read.clear()

    def resume(self) -> None:
        self._may_read.set()

    def close_input(self) -> None:
        """EOF on stdin: the runtime finishes its streams and exits."""
        with self._write_lock:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            except OSError:
                pass

    def kill(self, sig: signal.Signals) -> None:
        if self.alive:
            with contextlib.suppress(OSError):
                self._proc.send_signal(sig)

    def wait_exit(self, timeout: float | None) -> bool:
        """Whether the exit was reported within `timeout` seconds."""
        return self._exited.wait(timeout)

    def _read(self, pipe: IO[bytes] | None, splitter: LineSplitter, done: threading.Event) -> None:
        assert pipe is not None  # Popen was given PIPE for it
        fd = pipe.fileno()
        is_stdout = done is self._stdout_done
        try:
            while True:
                if is_stdout:
                    self._may_read.wait()
                try:
                    chunk = os.read(fd, _READ_BYTES)
                except OSError:
                    break
                if not chunk:
                    break
                splitter.push(chunk)
            splitter.end()
        finally:
            done.set()

    def _wait(self) -> None:
        code = self._proc.wait()
        with self._state_lock:
            self._dead = True
        self._may_read.set()  # deliver every line already written before reporting the exit
        self._stdout_done.wait(_DRAIN_AFTER_EXIT_S)
        self._stderr_done.wait(_DRAIN_AFTER_EXIT_S)
        info = ExitInfo(code=code if code >= 0 else None,
                        signal=signal.Signals(-code).name if code < 0 else None)
        self.exit_info = info
        try:
            self._handlers.exited(info)
        finally:
            self._exited.set()

    def _on_line(self, line: bytes) -> None:
        if self._log is not None:
            self._log(f"← {_clip(line.decode('utf-8', 'replace'))}")
        self._handlers.line(line)

    def _on_stderr(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        self.stderr_tail.append(line)
        if self._log is not None:
            self._log(f"[runtime] {line}")
        self._handlers.stderr(line)

    def _on_long_stderr(self, size: int) -> None:
        self._on_stderr(f"[{size} bytes of stderr on one line, not shown]".encode())


def _command(spec: LaunchSpec) -> list[str]:
    args = [spec.python_path, spec.runtime_path]
    if spec.config_path is not None:
        args += ["--config", spec.config_path]
    if spec.flags_path is not None:
        args += ["--flags", spec.flags_path]
    return args


def _spawn(spec: LaunchSpec) -> subprocess.Popen[bytes]:
    """Starts the runtime, or raises RUNTIME_START_FAILED saying what to fix."""
    missing = _missing_file(spec)
    if missing is not None:
        raise EngineError("RUNTIME_START_FAILED", missing, data={
            "python_path": spec.python_path, "runtime_path": spec.runtime_path})
    try:
        # Its own session: a Ctrl-C at the terminal reaches this process (whose
        # engine then stops the runtime), not the runtime behind its back.
        return subprocess.Popen(
            _command(spec), cwd=spec.cwd, env={**os.environ, **spec.env},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
    except OSError as exc:
        raise EngineError("RUNTIME_START_FAILED", f"Cannot start the runtime: {exc}", data={
            "python_path": spec.python_path, "runtime_path": spec.runtime_path}) from exc


def _missing_file(spec: LaunchSpec) -> str | None:
    # A bare command name ("python3") is looked up on PATH by Popen itself.
    if os.sep in spec.python_path and not Path(spec.python_path).exists():
        return (f"Cannot start the runtime: no Python at {spec.python_path}; point the `python_path` "
                "option or $MLX_SERVING_PYTHON at a Python that has the runtime installed.")
    if not Path(spec.runtime_path).exists():
        return f"Cannot start the runtime: {spec.runtime_path} does not exist; check the `runtime_path` option."
    for option, file in (("config_path", spec.config_path), ("flags_path", spec.flags_path)):
        if file is not None and not Path(file).exists():
            return f"Cannot start the runtime: the config file {file} does not exist; check the `{option}` option."
    if not Path(spec.cwd).is_dir():
        return f"Cannot start the runtime: the working directory {spec.cwd} does not exist; check the `cwd` option."
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _LOG_LINE_CHARS else f"{text[:_LOG_LINE_CHARS]}… ({len(text)} chars)"
