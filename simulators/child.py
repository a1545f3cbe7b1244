"""A simulator in a child process that talks in lines: the hubs' and the subscriber's transport.

``python -m simulators.<module>`` runs from the repository root with the broker's password in
its environment (never in argv). Its stdin is a pipe from this process: commands go down it, and
when this process ends, however it ends, the child sees the end of its input and stops too. Its
stdout comes back unbuffered, one line per answer or message. A child process keeps the real
clock whatever the caller does to its own (``freezer``).
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import os
from pathlib import Path
import selectors
import subprocess
import sys
import time
from types import TracebackType
from typing import Self

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "SIMULATORS_BROKER_PASSWORD"


def child_env(password: str | None, *paths: Path) -> dict[str, str]:
    """Our environment, plus the repository and `paths` to import from, and the password."""
    env = dict(os.environ)
    extra = [str(path) for path in paths if path.is_dir()]
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *extra, *filter(None, [env.get("PYTHONPATH")])]
    )
    if password is not None:
        env[PASSWORD_ENV] = password
    return env


class StartStop:
    """A simulated part used as a context manager: `with` starts it and stops it (cleanly)."""

    def start(self) -> None:
        """Start the part."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the part cleanly."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start, and hand the running part to the `with` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop cleanly, however the block ended."""
        self.stop()


class ChildProcess:
    """One ``python -m simulators.<module>`` child; errors are raised as ``error``."""

    def __init__(
        self,
        module: str,
        arguments: Sequence[str],
        *,
        password: str | None,
        error: type[Exception],
        python: str = sys.executable,
        log: Path | None = None,
    ) -> None:
        """Describe the child; nothing runs before ``spawn()``. Its stderr goes to ``log``."""
        self.command = [python, "-m", f"simulators.{module}", *arguments]
        self.password = password
        self.error = error
        self.name = module
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = b""

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def spawn(self) -> None:
        """Start the child (in its own session, so that signals to the caller pass it by)."""
        self._pending = b""
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(self.log.open("ab")) if self.log is not None else None
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                bufsize=0,
                env=child_env(self.password),
                cwd=REPO_ROOT,
                start_new_session=True,
            )

    def running(self) -> subprocess.Popen[bytes]:
        """The child, which must still run."""
        if self._process is None or self._process.poll() is not None:
            raise self.error(f"the {self.name} process is not running")
        return self._process

    def write_line(self, line: str) -> None:
        """Send one line to the child's stdin."""
        process = self.running()
        assert process.stdin is not None
        process.stdin.write(line.encode() + b"\n")

    def read_line(self, timeout_s: float) -> str:
        """The child's next line on stdout (unbuffered, so a select never misses a line)."""
        process = self._process
        if process is None or process.stdout is None:
            raise self.error(f"the {self.name} process is not running")
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            remaining = max(0.0, deadline - time.monotonic())
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                if not selector.select(remaining):
                    raise self.error(f"nothing from the {self.name} process within {timeout_s} s")
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise self.error(f"the {self.name} process ended (exit {process.wait()})")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace").strip()

    def kill(self) -> None:
        """SIGKILL: the child ends at once, without a word to anyone."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        _close(process)

    def stop(self, timeout_s: float = 10.0, *, terminate: bool = False) -> None:
        """Close its stdin (its cue to stop cleanly; SIGTERM too with ``terminate``) and wait."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if process.poll() is None:
            if terminate:
                process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        _close(process)


def _close(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
