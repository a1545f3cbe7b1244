"""Where a bench's CPU and memory go: cProfile and tracemalloc, summed by area of the code.

Used by `bench/fleet.py --profile DIR`. An *area* is a part of the code base named by its files:
the integration, Home Assistant's MQTT integration, its entity and device registries, its core
(states, bus, timers), templates, storage, paho, voluptuous, asyncio and the rest of the
standard library. cProfile's own time of a built-in function (`~`, e.g. `json.loads`,
`dict.get`) is given to the areas of its callers, in proportion to the time each caller spent in
it, so that `orjson.loads` called by MQTT discovery counts as MQTT discovery's.

cProfile is timed on the process's CPU clock. On Python 3.12 and later it hears every thread
(it is built on `sys.monitoring`), so the executor's work (file writes, SQLite) is in it too,
interleaved with the event loop's: own times are right in sum, call counts of functions that ran
in two threads at once look recursive (`604/338`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
import contextlib
import cProfile
import io
from pathlib import Path
import pstats
import time
import tracemalloc
from typing import Any

# (area, substring of the file's path); the first match wins.
AREAS: tuple[tuple[str, str], ...] = (
    ("ours: custom_components/trygghetskamera", "custom_components/trygghetskamera/"),
    ("bench and simulators", "/bench/"),
    ("bench and simulators", "/simulators/"),
    ("bench and simulators", "/tests/"),
    ("HA mqtt: discovery", "homeassistant/components/mqtt/discovery.py"),
    ("HA mqtt: client and subscriptions", "homeassistant/components/mqtt/client.py"),
    ("HA mqtt: entity setup (mixins/entity)", "homeassistant/components/mqtt/entity.py"),
    ("HA mqtt: entity setup (mixins/entity)", "homeassistant/components/mqtt/mixins.py"),
    ("HA mqtt: schemas and config", "homeassistant/components/mqtt/schemas.py"),
    ("HA mqtt: schemas and config", "homeassistant/components/mqtt/config"),
    ("HA mqtt: schemas and config", "homeassistant/components/mqtt/abbreviations.py"),
    ("HA mqtt: templates/models", "homeassistant/components/mqtt/models.py"),
    ("HA mqtt: debug info", "homeassistant/components/mqtt/debug_info.py"),
    ("HA mqtt: other", "homeassistant/components/mqtt/"),
    ("HA entity registry", "homeassistant/helpers/entity_registry.py"),
    ("HA device registry", "homeassistant/helpers/device_registry.py"),
    ("HA registries (shared)", "homeassistant/helpers/registry.py"),
    ("HA registries (shared)", "homeassistant/helpers/normalized_name_base_registry.py"),
    ("HA entity/platform", "homeassistant/helpers/entity_platform.py"),
    ("HA entity/platform", "homeassistant/helpers/entity_component.py"),
    ("HA entity/platform", "homeassistant/helpers/entity.py"),
    ("HA entity/platform", "homeassistant/components/binary_sensor/"),
    ("HA entity/platform", "homeassistant/components/sensor/"),
    ("HA entity/platform", "homeassistant/components/switch/"),
    ("HA entity/platform", "homeassistant/components/button/"),
    ("HA entity/platform", "homeassistant/components/event/"),
    ("HA templates", "homeassistant/helpers/template"),
    ("HA templates", "jinja2/"),
    ("HA storage and JSON", "homeassistant/helpers/storage.py"),
    ("HA storage and JSON", "homeassistant/helpers/json.py"),
    ("HA storage and JSON", "homeassistant/util/json.py"),
    ("HA storage and JSON", "homeassistant/util/file.py"),
    ("HA config entries and setup", "homeassistant/config_entries.py"),
    ("HA config entries and setup", "homeassistant/setup.py"),
    ("HA config entries and setup", "homeassistant/loader.py"),
    ("HA repairs", "homeassistant/helpers/issue_registry.py"),
    ("HA core: states, bus, event helpers", "homeassistant/core.py"),
    ("HA core: states, bus, event helpers", "homeassistant/helpers/event.py"),
    ("HA core: states, bus, event helpers", "homeassistant/helpers/dispatcher.py"),
    ("HA core: states, bus, event helpers", "homeassistant/util/"),
    ("HA other", "homeassistant/"),
    ("paho-mqtt", "paho/"),
    ("voluptuous", "voluptuous/"),
    ("PyAV", "/av/"),
    ("asyncio", "/asyncio/"),
)
OTHER = "other (stdlib, other packages)"


def area_of(filename: str) -> str:
    """The area a file belongs to."""
    for area, part in AREAS:
        if part in filename:
            return area
    return OTHER


def _is_builtin(func: tuple[str, int, str]) -> bool:
    return func[0] == "~" or func[0].startswith("<")


def cpu_by_area(stats: pstats.Stats) -> dict[str, float]:
    """Own time (tottime) per area; built-ins' time goes to their callers' areas."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for func, (_cc, _nc, tottime, _ct, callers) in raw.items():
        if not _is_builtin(func):
            totals[area_of(func[0])] += tottime
            continue
        # Share the built-in's own time among its callers by the time each spent in it.
        weights = {caller: values[2] for caller, values in callers.items()}
        whole = sum(weights.values())
        if whole <= 0:
            totals[OTHER] += tottime
            continue
        for caller, weight in weights.items():
            where = OTHER if _is_builtin(caller) else area_of(caller[0])
            totals[where] += tottime * weight / whole
    return dict(totals)


def listing(stats: pstats.Stats, sort: str, limit: int) -> str:
    """pstats' own listing, as text."""
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    return out.getvalue()


def area_table(title: str, amounts: dict[str, float], unit: str, whole: float | None = None) -> str:
    """Areas by amount, largest first, with their share of the whole."""
    total = sum(amounts.values()) if whole is None else whole
    lines = [title]
    for area, amount in sorted(amounts.items(), key=lambda item: -item[1]):
        share = 100 * amount / total if total else 0.0
        lines.append(f"  {amount:9.2f} {unit} {share:5.1f} %  {area}")
    lines.append(f"  {sum(amounts.values()):9.2f} {unit}          total")
    return "\n".join(lines)


def memory_by_area(
    after: tracemalloc.Snapshot, before: tracemalloc.Snapshot
) -> tuple[dict[str, float], list[tuple[str, float, int]]]:
    """MiB still allocated per area (growth since `before`), and the top files (MiB, blocks)."""
    areas: dict[str, float] = defaultdict(float)
    files: list[tuple[str, float, int]] = []
    for diff in after.compare_to(before, "filename"):
        filename = diff.traceback[0].filename
        mib = diff.size_diff / 2**20
        areas[area_of(filename)] += mib
        files.append((filename, mib, diff.count_diff))
    files.sort(key=lambda item: -item[1])
    return dict(areas), files


def top_lines(
    after: tracemalloc.Snapshot, before: tracemalloc.Snapshot, limit: int
) -> Iterable[str]:
    """The allocation sites (file:line) that grew most since `before`."""
    for diff in after.compare_to(before, "lineno")[:limit]:
        frame = diff.traceback[0]
        yield (
            f"  {diff.size_diff / 2**20:8.2f} MiB {diff.count_diff:8d} blocks"
            f"  {short(frame.filename)}:{frame.lineno}"
        )


def short(filename: str) -> str:
    """A file's path from its package on (site-packages and the repository left out)."""
    for marker in ("site-packages/", "custom_components/", "/lib/python3"):
        if marker in filename:
            _, _, tail = filename.partition(marker)
            if marker == "/lib/python3":
                return tail.partition("/")[2]
            return tail if marker != "custom_components/" else marker + tail
    return str(Path(filename).name)


class SetupProfile:
    """Times phases (wall, process CPU, event-loop thread CPU) and, if asked, profiles them.

    With `directory`, each phase runs under cProfile (`<phase>.prof` and a text report in
    `profile.txt`); with `trace_memory`, tracemalloc runs from the first phase on and the report
    gives each phase's growth by area, file and line. Both slow the process down: their runs'
    times are not the bench's figures.
    """

    def __init__(self, directory: Path | None, trace_memory: bool) -> None:
        """Nothing is measured until the first phase."""
        self.directory = directory
        self.trace_memory = trace_memory
        self.phases: list[tuple[str, pstats.Stats | None, tracemalloc.Snapshot | None]] = []
        self._before: tracemalloc.Snapshot | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def phase(self, name: str, figures: dict[str, Any]) -> Iterator[None]:
        """Measure the block as phase `name`: figures `<name>_s`, `_cpu_s`, `_loop_cpu_s`."""
        if self.trace_memory and not tracemalloc.is_tracing():
            tracemalloc.start()
            self._before = tracemalloc.take_snapshot()
        # Timed on the process's CPU clock: CPU seconds, not the waits of a loaded machine.
        profiler = cProfile.Profile(time.process_time) if self.directory is not None else None
        began = time.perf_counter()
        began_cpu, began_loop = time.process_time(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        try:
            yield
        finally:
            if profiler is not None:
                profiler.disable()
            figures[f"{name}_s"] = time.perf_counter() - began
            figures[f"{name}_cpu_s"] = time.process_time() - began_cpu
            figures[f"{name}_loop_cpu_s"] = time.thread_time() - began_loop
        stats = None
        if profiler is not None and self.directory is not None:
            profiler.dump_stats(self.directory / f"{name}.prof")
            stats = pstats.Stats(profiler)
        snapshot = tracemalloc.take_snapshot() if self.trace_memory else None
        self.phases.append((name, stats, snapshot))

    def report(self, figures: dict[str, Any]) -> None:
        """Print the areas and write the whole report to `<directory>/profile.txt`."""
        if self.directory is None and not self.trace_memory:
            return
        parts: list[str] = []
        before = self._before
        for name, stats, snapshot in self.phases:
            if stats is not None:
                parts.append(
                    area_table(
                        f"{name}: event loop CPU by area (cProfile own time; process CPU"
                        f" {figures[f'{name}_cpu_s']:.2f} s, loop thread"
                        f" {figures[f'{name}_loop_cpu_s']:.2f} s)",
                        cpu_by_area(stats),
                        "s",
                    )
                )
            if snapshot is not None and before is not None:
                areas, files = memory_by_area(snapshot, before)
                parts.append(area_table(f"{name}: memory still allocated, by area", areas, "MiB"))
                parts.append(
                    "\n".join(
                        [
                            f"{name}: top files (MiB, blocks)",
                            *(
                                f"  {mib:8.2f} MiB {count:8d}  {short(filename)}"
                                for filename, mib, count in files[:25]
                            ),
                        ]
                    )
                )
                parts.append("\n".join([f"{name}: top lines", *top_lines(snapshot, before, 25)]))
                before = snapshot
        summary = "\n\n".join(parts)
        print(summary, flush=True)
        if self.directory is None:
            return
        listings = [
            f"===== {name} by {sort} =====\n{listing(stats, sort, 60)}"
            for name, stats, _ in self.phases
            if stats is not None
            for sort in ("cumulative", "tottime")
        ]
        (self.directory / "profile.txt").write_text("\n\n".join([summary, *listings]))
