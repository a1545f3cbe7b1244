"""From a plug going `unavailable` to `visit_required` on, on Home Assistant's real clock.

    .venv/bin/python -m bench.plug_loss [--homes 20] [--broken-camera]

A real Home Assistant (`async_test_home_assistant`) with N homes (default 20) whose slot is open
now, each fed by its own smart plug (`switch.plug_<i>`, its state written as an integration such
as MQTT writes it) and watching a real camera (one GStreamer RTSP camera, each home at its own
URL). All plugs go `unavailable` at the same instant; for each home the time until its
`trygghetskamera_visit_required` (reason `fault`) is printed as median and max. By design it is
the debounce (`BLIP_DELAY`) plus processing: the processing is the figure to watch.

The bench checks itself and exits non-zero when what it measures is not the plug's loss: a home
with a visit already required before the plugs went (e.g. its camera failed its probe), or a
visit sooner than the debounce allows. `--broken-camera` points the homes at a port where no
camera answers: that run must fail.
"""

import argparse
import asyncio
from pathlib import Path
import statistics
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

# ruff: noqa: E402

from homeassistant import loader
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er, frame
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from bench.session import add_home
from custom_components.trygghetskamera.const import CONF_PLUG_ENTITY, DOMAIN, EVENT_VISIT_REQUIRED
from custom_components.trygghetskamera.health import BLIP_DELAY
from tests.media_sources import RtspServer, free_port


class Degenerate(Exception):
    """The run did not measure what it claims to."""


async def measure(homes: int, config_dir: str, camera: str) -> list[float]:
    """Return, per home, seconds from the plugs going unavailable to its visit required."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        frame.async_setup(hass)
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        assert await async_setup_component(hass, DOMAIN, {})
        user = await hass.auth.async_create_user("Bench", group_ids=["system-users"])
        for index in range(homes):
            hass.states.async_set(f"switch.plug_{index}", "on")
        entries = [
            await add_home(
                hass,
                f"{camera}?home={index}",
                user.id,
                index,
                **{CONF_PLUG_ENTITY: f"switch.plug_{index}"},
            )
            for index in range(homes)
        ]
        # Each camera is probed, as before a slot: a home starts healthy or the run is void.
        await asyncio.gather(*(entry.runtime_data.async_probe_camera(None) for entry in entries))
        await hass.async_block_till_done()
        already = [entry.title for entry in entries if _visit_open(hass, entry.entry_id)]
        if already:
            await hass.async_stop(force=True)
            raise Degenerate(f"{len(already)} homes required a visit before the plugs went")
        raised: dict[str, float] = {}
        done = asyncio.Event()

        def visit(event: Event) -> None:
            if event.data["reason"] == "fault":
                raised.setdefault(event.data["entry_id"], time.perf_counter())
                if len(raised) == homes:
                    done.set()

        hass.bus.async_listen(EVENT_VISIT_REQUIRED, visit)
        lost = time.perf_counter()
        for index in range(homes):
            hass.states.async_set(f"switch.plug_{index}", "unavailable")
        async with asyncio.timeout(BLIP_DELAY.total_seconds() + 30):
            await done.wait()
        latencies = [raised[entry.entry_id] - lost for entry in entries]
        await hass.async_stop(force=True)
        if (early := sum(latency < BLIP_DELAY.total_seconds() for latency in latencies)) > 0:
            raise Degenerate(f"{early} visits came before the plug's debounce was over")
        return latencies


def _visit_open(hass: HomeAssistant, entry_id: str) -> bool:
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{entry_id}_visit_required")
    state = hass.states.get(entity_id) if entity_id else None
    return state is None or state.state != "off"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--homes", type=int, default=20)
    parser.add_argument("--broken-camera", action="store_true", help="no camera: must fail")
    args = parser.parse_args()
    homes = args.homes
    with (
        tempfile.TemporaryDirectory() as config_dir,
        RtspServer(width=160, height=120, fps=5, gop=5) as camera,
    ):
        url = f"rtsp://127.0.0.1:{free_port()}/cam" if args.broken_camera else camera.url
        try:
            latencies = asyncio.run(measure(homes, config_dir, url))
        except Degenerate as err:
            raise SystemExit(f"degenerate run: {err}") from None
    print(f"plug unavailable -> visit_required (reason fault), {homes} homes at once:")
    print(
        f"  median {statistics.median(latencies):.3f} s, max {max(latencies):.3f} s"
        f" (debounce {BLIP_DELAY.total_seconds():.0f} s; processing after it:"
        f" median {statistics.median(latencies) - BLIP_DELAY.total_seconds():.3f} s,"
        f" max {max(latencies) - BLIP_DELAY.total_seconds():.3f} s)"
    )


if __name__ == "__main__":
    main()
