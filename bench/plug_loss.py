"""From a plug going `unavailable` to `visit_required` on, on Home Assistant's real clock.

    .venv/bin/python -m bench.plug_loss [homes]

A real Home Assistant (`async_test_home_assistant`) with N homes (default 20) whose slot is open
now, each fed by its own smart plug (`switch.plug_<i>`, its state written as an integration such
as MQTT writes it). All plugs go `unavailable` at the same instant; for each home the time until
its `trygghetskamera_visit_required` (reason `fault`) is printed as median and max. By design it
is the debounce (`BLIP_DELAY`) plus processing: the processing is the figure to watch.
"""

import asyncio
import statistics
import sys
import tempfile
import time

from homeassistant import loader
from homeassistant.core import Event
from homeassistant.helpers import frame
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from bench.session import add_home
from custom_components.trygghetskamera.const import CONF_PLUG_ENTITY, DOMAIN, EVENT_VISIT_REQUIRED
from custom_components.trygghetskamera.health import BLIP_DELAY


async def measure(homes: int, config_dir: str) -> list[float]:
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
                f"rtsp://127.0.0.1:9/home{index}",
                user.id,
                index,
                **{CONF_PLUG_ENTITY: f"switch.plug_{index}"},
            )
            for index in range(homes)
        ]
        await hass.async_block_till_done()
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
        return latencies


def main(homes: int = 20) -> None:
    with tempfile.TemporaryDirectory() as config_dir:
        latencies = asyncio.run(measure(homes, config_dir))
    print(f"plug unavailable -> visit_required (reason fault), {homes} homes at once:")
    print(
        f"  median {statistics.median(latencies):.3f} s, max {max(latencies):.3f} s"
        f" (debounce {BLIP_DELAY.total_seconds():.0f} s; processing after it:"
        f" median {statistics.median(latencies) - BLIP_DELAY.total_seconds():.3f} s,"
        f" max {max(latencies) - BLIP_DELAY.total_seconds():.3f} s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
