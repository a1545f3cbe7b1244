"""Benchmark of the camera probe: wall time and CPU per probe of a real H.264 file.

Run: `.venv/bin/python bench/health.py [runs]`. A file plays the camera (see `media.probe`); each
probe opens it, seeks to the "live" position, decodes one frame, judges it and closes.

The time from a plug going `unavailable` to `visit_required` is the debounce (`BLIP_DELAY`,
15 s; 5 s for a plug switched off or power below the minimum) plus the processing that follows
the debounce timer; the debounce is exercised on Home Assistant's clock by tests/test_health.py.
"""

from pathlib import Path
import statistics
import sys
import tempfile
import time

from custom_components.trygghetskamera import media
from custom_components.trygghetskamera.health import BLIP_DELAY, SWITCHED_OFF_DELAY
from simulators import scenes


def main(runs: int = 20) -> None:
    """Probe a generated night scene `runs` times and print median/max wall time and CPU."""
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "night.mp4"
        scenes.generate_night_scene(video, seconds=6, fps=10, size=(640, 480))
        walls: list[float] = []
        cpus: list[float] = []
        last: str | None = None
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            result = media.probe(str(video), None, None, timeout_s=10.0, last_signature=last)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            assert result.signature is not None
            last = result.signature
    print(f"probe of a 640x480 H.264 file, {runs} runs")
    print(f"  wall ms: median {statistics.median(walls):.1f}, max {max(walls):.1f}")
    print(f"  CPU ms:  median {statistics.median(cpus):.1f}, max {max(cpus):.1f}")
    print(
        "plug unavailable -> fault: debounce "
        f"{BLIP_DELAY.total_seconds():.0f} s (switched off / no power: "
        f"{SWITCHED_OFF_DELAY.total_seconds():.0f} s) + processing"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
