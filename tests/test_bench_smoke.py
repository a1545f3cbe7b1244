"""Every benchmark runs, on tiny parameters, and fails loudly when what it simulates breaks.

Each bench runs as it would by hand, in a process of its own (`python -m bench.<name>`): the
point is that it still works and still checks itself, not its figures. Each also runs once with
its simulated thing broken (no camera, a covered lens, an installation without its will) and
must then exit non-zero with the reason, instead of printing figures of a night that never
happened.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent
# Generous: a bench imports Home Assistant and starts real cameras, brokers and hubs, and CI
# machines are busy. A hang still ends the test.
TIMEOUT_S = 600


def run_bench(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one bench as `python -m bench.<name> args…`; its output and exit code."""
    return subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def assert_ran(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "degenerate" not in done.stdout + done.stderr


def assert_degenerate(done: subprocess.CompletedProcess[str], reason: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "degenerate run" in done.stderr, done.stderr
    assert reason in done.stderr, done.stderr


def test_homes_bench_grants_every_look_of_the_night() -> None:
    done = run_bench("homes", "--homes", "2")
    assert_ran(done)
    assert "2 homes: 6 looks planned, 0 refused" in done.stdout


def test_homes_bench_fails_when_no_camera_streams() -> None:
    assert_degenerate(run_bench("homes", "--homes", "2", "--broken-camera"), "looks refused")


def test_session_bench_measures_real_looks() -> None:
    done = run_bench("session", "--runs", "2", "--concurrency", "1", "--gops", "1", "--views")
    assert_ran(done)
    assert "GOP 1 s, session/start -> first JPEG byte, ONVIF: p50" in done.stdout


def test_session_bench_stops_on_a_look_without_pictures() -> None:
    done = run_bench(
        "session", "--runs", "1", "--concurrency", "1", "--gops", "1", "--views", "--broken-camera"
    )
    # Whichever of the shuffled measurements comes first says it: a probe, or a look that ended
    # before its stream was asked for or before its first JPEG.
    assert_degenerate(done, "degenerate run: the ")


def test_health_bench_probes_a_real_camera() -> None:
    assert_ran(run_bench("health", "--runs", "2", "--gop-s", "0.5"))


def test_health_bench_fails_on_a_covered_lens() -> None:
    assert_degenerate(run_bench("health", "--runs", "1", "--broken-camera"), "probes failed")


def test_plug_loss_bench_measures_the_plug() -> None:
    done = run_bench("plug_loss", "--homes", "2")
    assert_ran(done)
    assert "plug unavailable -> visit_required" in done.stdout


def test_plug_loss_bench_fails_when_homes_start_in_fault() -> None:
    assert_degenerate(
        run_bench("plug_loss", "--homes", "2", "--broken-camera"), "before the plugs went"
    )


def test_audit_bench_verifies_its_log() -> None:
    # It proves its own checks in every run: a changed record and a tampered export must fail.
    assert_ran(run_bench("audit", "--records", "200", "--homes", "2", "--concurrent", "50"))


def test_fleet_bench_runs_hubs_broker_and_homes() -> None:
    # Its refusal to measure homes that start in fault is plug_loss's, proven above; a broken
    # run of the whole fleet (broker, hubs, discovery) would only add a minute to the suite.
    done = run_bench("fleet", "--homes", "4", "--per-process", "2", "--hour-steps", "2")
    assert_ran(done)
    assert "0 visits elsewhere" in done.stdout


def test_watch_loss_bench_measures_a_lost_installation() -> None:
    # The will path only: down at once, one agreed time on the next whole minute (so up to a
    # minute of waiting); the stale path would add stale_seconds (45 s at least) per trial.
    done = run_bench("watch_loss", "--will-trials", "1", "--stale-trials", "0", "--homes", "2")
    assert_ran(done)
    assert "via the will, from the SIGKILL            p50" in done.stdout
    assert "agreed time after the loss, each visit     p50" in done.stdout
    assert "(n=2)" in done.stdout
    assert "first heartbeat -> recovered               p50" in done.stdout


def test_watch_loss_bench_fails_when_the_installation_has_no_will() -> None:
    # Killed without a will, the watched installation is only found stale (45 s): a will trial
    # must not pass that off as the will's figure.
    done = run_bench(
        "watch_loss", "--will-trials", "1", "--stale-trials", "0", "--homes", "2", "--broken-will"
    )
    assert_degenerate(done, "will trial 1: the watcher never said down after the kill")
