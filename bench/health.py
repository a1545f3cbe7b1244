"""Benchmark of the camera probe: wall time and CPU per probe of a real RTSP camera.

    .venv/bin/python -m bench.health [--runs 20] [--gop-s 2] [--broken-camera]

Each probe connects to a GStreamer RTSP camera on loopback (640x480, 10 fps, a keyframe every
--gop-s seconds, kept whatever the viewers do, as a real camera keeps it), decodes one frame,
judges it and closes. The wall time is the RTSP handshake plus the wait for the camera's next
keyframe (half a GOP on average); the CPU time is the probe's own work.

The time from a plug going `unavailable` to `visit_required` is the debounce (`BLIP_DELAY`,
15 s; 5 s for a plug switched off or power below the minimum) plus the processing that follows
the debounce timer; the debounce is exercised on Home Assistant's clock by tests/test_health.py.

The bench checks itself: every probe must pass (a moving picture, neither black nor frozen), or
it exits non-zero. `--broken-camera` shows a covered lens (black): that run must fail.
"""

import argparse
from pathlib import Path
import statistics
import sys
import time

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

from custom_components.trygghetskamera import media  # noqa: E402
from custom_components.trygghetskamera.health import BLIP_DELAY, SWITCHED_OFF_DELAY  # noqa: E402
from tests.media_sources import RtspServer  # noqa: E402


def main() -> None:
    """Probe a camera --runs times and print median/max wall time and CPU."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gop-s", type=float, default=2.0, help="the camera's keyframe interval")
    parser.add_argument("--broken-camera", action="store_true", help="a covered lens: must fail")
    args = parser.parse_args()
    fps = 10
    pattern = "black" if args.broken_camera else "ball"
    walls: list[float] = []
    cpus: list[float] = []
    failed: list[str | None] = []
    with RtspServer(pattern=pattern, fps=fps, gop=max(1, round(args.gop_s * fps))) as camera:
        last: str | None = None
        for _ in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            result = media.probe(camera.url, None, None, timeout_s=10.0, last_signature=last)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            if not result.ok:
                failed.append(result.reason)
            last = result.signature
    print(f"probe of a 640x480 H.264 RTSP camera, GOP {args.gop_s:g} s, {args.runs} runs")
    print(f"  wall ms: median {statistics.median(walls):.1f}, max {max(walls):.1f}")
    print(f"  CPU ms:  median {statistics.median(cpus):.1f}, max {max(cpus):.1f}")
    print(
        "plug unavailable -> fault: debounce "
        f"{BLIP_DELAY.total_seconds():.0f} s (switched off / no power: "
        f"{SWITCHED_OFF_DELAY.total_seconds():.0f} s) + processing"
    )
    if failed:
        raise SystemExit(f"degenerate run: {len(failed)} of {args.runs} probes failed: {failed}")


if __name__ == "__main__":
    main()
