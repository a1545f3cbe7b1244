"""`scripts/develop` started N times in a row through the real script: each run's time and result.

    .venv/bin/python -m bench.develop_starts [--runs 20] [--work DIR] [--interrupt]

Each run is the script a person types, `scripts/develop --check --port 0 --config DIR`: its
bootstrap (`scripts/setup`, a few seconds on a ready machine), then the demo's own start (camera,
broker, hub, Home Assistant, onboarding, users, MQTT, the demo home through the config flow),
and `--check`'s verification: the home's config entry loaded, its equipment sensor off (no fault),
a plug round trip through the hub, Home Assistant's probe of the camera, the operator's login
and, last, no fault again. Then it stops Home Assistant, the hub, the camera and the broker and
exits 0; anything else exits non-zero. Run 1 starts on a fresh config dir (a first start); the
others reuse it, as a person restarting the demo does.

`--interrupt` takes a person's path to the end instead: the demo without `--check`, which stays
in the foreground; once it prints "Press Ctrl-C to stop." the bench sends SIGINT to the script's
process group, as a terminal's Ctrl-C does, and expects exit code 0.

Per run it prints the wall time (start to exit, Home Assistant's stop included), the demo's own
"demo ready" figure, how long Home Assistant's API took to answer, and the load average before.

The bench checks itself and exits non-zero when a run failed, timed out, left a process of its
own running (every process a run starts carries a marker in its environment), or printed no
"demo ready" figure. A scripts/setup that would reinstall .venv (its requirement stamp does not
match) is not what is measured: the bench then stops before the run.
"""

import argparse
import contextlib
from dataclasses import dataclass
import hashlib
import os
from pathlib import Path
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
DEVELOP = ROOT / "scripts" / "develop"
MARKER = "TRYGGHETSKAMERA_DEVELOP_STARTS"
# A hang, not an estimate: a cold start took up to 256 s under a load average of 14.
RUN_TIMEOUT_S = 900.0
STOP_GRACE_S = 60.0
READY = re.compile(r"demo ready ([\d.]+) s after this script began")
API = re.compile(r"API answering ([\d.]+) s after the hass process started")
RUNNING = "Press Ctrl-C to stop."


class Degenerate(Exception):
    """The run did not measure what it claims to."""


@dataclass
class Run:
    """One start of scripts/develop."""

    index: int
    load_before: float
    wall: float = 0.0
    exit_code: int | None = None
    ready: float | None = None
    api: float | None = None
    left_running: int = 0
    problem: str = ""

    @property
    def passed(self) -> bool:
        """Exit 0, a "demo ready" figure, nothing left behind."""
        return not self.problem


def setup_would_reinstall() -> str | None:
    """Say why scripts/setup would reinstall .venv, or None if it would leave it as it is.

    The same stamp scripts/setup writes: requirements_test.txt and the interpreter's version.
    """
    venv_python = ROOT / ".venv" / "bin" / "python"
    stamp = ROOT / ".venv" / ".requirements.sha256"
    if not venv_python.exists():
        return ".venv has no python"
    version = subprocess.run(
        [str(venv_python), "-c", "import sys; print(sys.version)"],
        capture_output=True,
        check=True,
    ).stdout
    want = hashlib.sha256((ROOT / "requirements_test.txt").read_bytes() + version).hexdigest()
    try:
        have = stamp.read_text(encoding="utf-8").strip()
    except OSError:
        return f"{stamp} is missing"
    return None if have == want else f"{stamp} does not match requirements_test.txt"


def marked_processes(token: str) -> list[int]:
    """Pids of the processes whose environment carries this run's marker."""
    wanted = f"{MARKER}={token}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_leftovers(pids: list[int]) -> None:
    """Stop what a run left behind (processes this bench started), so the next run is clean."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_once(index: int, config: Path, log: Path, *, interrupt: bool) -> Run:
    """Start scripts/develop once; wait for it to end; return what happened."""
    run = Run(index=index, load_before=os.getloadavg()[0])
    token = secrets.token_hex(8)
    env = dict(os.environ, **{MARKER: token})
    command = [str(DEVELOP), "--port", "0", "--config", str(config)]
    if not interrupt:
        command.insert(1, "--check")
    began = time.monotonic()
    deadline = began + RUN_TIMEOUT_S
    interrupted = False
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # A session of its own, as a terminal gives a command: its process group is what a
            # Ctrl-C reaches.
            start_new_session=True,
        )
    # A bench, not a test: it looks at the script's output twice a second.
    while process.poll() is None and time.monotonic() < deadline:
        if interrupt and not interrupted and RUNNING in log.read_text(errors="replace"):
            os.killpg(process.pid, signal.SIGINT)
            interrupted = True
        time.sleep(0.5)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        run.problem = f"no exit within {RUN_TIMEOUT_S:.0f} s"
    run.exit_code = process.returncode
    run.wall = time.monotonic() - began
    text = log.read_text(encoding="utf-8", errors="replace")
    if found := READY.search(text):
        run.ready = float(found.group(1))
    if found := API.search(text):
        run.api = float(found.group(1))
    # The children stop within the script's own stop; a moment's grace for their exits.
    leftovers = marked_processes(token)
    for _ in range(20):
        if not leftovers:
            break
        time.sleep(0.5)
        leftovers = marked_processes(token)
    run.left_running = len(leftovers)
    end_leftovers(leftovers)
    if not run.problem:
        if run.exit_code != 0:
            run.problem = f"exit code {run.exit_code}"
        elif run.ready is None:
            run.problem = "no 'demo ready' figure"
        elif interrupt and not interrupted:
            run.problem = f"never printed {RUNNING!r}"
        elif leftovers:
            run.problem = f"{len(leftovers)} process(es) left running"
    return run


def figure(value: float | None) -> str:
    """A figure in seconds, or a dash."""
    return "-" if value is None else f"{value:.1f} s"


def main() -> int:
    """Start scripts/develop --runs times; print a table; exit non-zero on any failure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--work",
        type=Path,
        help="where the config dir and the runs' output go (default: a temp dir)",
    )
    parser.add_argument(
        "--interrupt", action="store_true", help="run the demo in the foreground and Ctrl-C it"
    )
    args = parser.parse_args()
    # Started in the background (`bench … &` from a script), this process ignores SIGINT, and
    # so would every child: Python then leaves SIGINT ignored instead of raising
    # KeyboardInterrupt, and the demo would never see the Ctrl-C. A terminal's command has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.runs < 1:
        raise Degenerate("--runs must be at least 1")
    work = args.work or Path(tempfile.mkdtemp(prefix="develop-starts-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "demo" / "config"
    if config.exists():
        raise Degenerate(f"{config} exists: run 1 must be a first start (remove it)")
    mode = "Ctrl-C once running" if args.interrupt else "--check"
    print(f"scripts/develop {mode}, {args.runs} starts in a row; output in {work}", flush=True)
    print("| run | ended (UTC) | exit | wall | demo ready | API answered | load avg before |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    runs: list[Run] = []
    for index in range(1, args.runs + 1):
        if reason := setup_would_reinstall():
            raise Degenerate(f"scripts/setup would reinstall .venv ({reason}): not measured")
        run = start_once(index, config, work / f"run-{index:02d}.log", interrupt=args.interrupt)
        runs.append(run)
        ended = time.strftime("%H:%M:%S", time.gmtime())
        result = run.exit_code if run.passed else f"{run.exit_code} ({run.problem})"
        print(
            f"| {index} | {ended} | {result} | {run.wall:.1f} s | {figure(run.ready)} |"
            f" {figure(run.api)} | {run.load_before:.2f} |",
            flush=True,
        )
    walls = [run.wall for run in runs]
    ready = [run.ready for run in runs if run.ready is not None]
    failed = [run for run in runs if not run.passed]
    print(
        f"{len(runs) - len(failed)} of {len(runs)} passed; wall min {min(walls):.1f} s,"
        f" median {statistics.median(walls):.1f} s, max {max(walls):.1f} s"
        + (
            f"; demo ready min {min(ready):.1f} s, median {statistics.median(ready):.1f} s,"
            f" max {max(ready):.1f} s"
            if ready
            else ""
        )
    )
    for run in failed:
        print(
            f"run {run.index} failed: {run.problem};"
            f" its output: {work / f'run-{run.index:02d}.log'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Degenerate as err:
        print(f"degenerate run: {err}", file=sys.stderr)
        sys.exit(2)
