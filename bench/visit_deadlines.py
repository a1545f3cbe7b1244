"""From a visit raised to its escalation and to its deadline, on Home Assistant's real clock.

    .venv/bin/python -m bench.visit_deadlines [homes]

A real Home Assistant (`async_test_home_assistant`) with N homes (default 10) whose slot is open
now, with the shortest deadlines the options allow so that the run takes minutes, not an hour:
`ack_minutes` 1, `urgent_ack_minutes` 1, `response_minutes` 5. Every home's plug goes
`unavailable` at the same instant: each home raises a visit (reason `fault`, after the plug's
debounce). Nobody acknowledges. For each visit it prints how long after the moment it was
raised (the visit's own `raised`, as the core recorded it) the `trygghetskamera_visit_escalated`
(level 1) and the `trygghetskamera_visit_overdue` bus events came, beyond the configured minutes,
in milliseconds (median and max); and how far after that moment its
`trygghetskamera_visit_required` event came (persisting the state first takes that long).
The run takes about 5.5 minutes of wall time; it fails (exit 1) if a visit is not escalated or
not overdue, or a latency is outside 0 .. 10 s.
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
from custom_components.trygghetskamera.const import (
    CONF_ACK_MINUTES,
    CONF_PLUG_ENTITY,
    CONF_RESPONSE_MINUTES,
    CONF_URGENT_ACK_MINUTES,
    DOMAIN,
    EVENT_VISIT_ESCALATED,
    EVENT_VISIT_OVERDUE,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.health import BLIP_DELAY

ACK_S = 60.0
RESPONSE_S = 300.0


async def measure(homes: int, config_dir: str) -> tuple[list[float], list[float], list[float]]:
    """Per visit: seconds from raised to its event, beyond `ack_minutes` to level 1, and beyond
    `response_minutes` to overdue."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        frame.async_setup(hass)
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        assert await async_setup_component(hass, DOMAIN, {})
        user = await hass.auth.async_create_user("Bench", group_ids=["system-users"])
        for index in range(homes):
            hass.states.async_set(f"switch.plug_{index}", "on")
        for index in range(homes):
            await add_home(
                hass,
                f"rtsp://127.0.0.1:9/home{index}",
                user.id,
                index,
                **{
                    CONF_PLUG_ENTITY: f"switch.plug_{index}",
                    CONF_ACK_MINUTES: 1,
                    CONF_URGENT_ACK_MINUTES: 1,
                    CONF_RESPONSE_MINUTES: 5,
                },
            )
        await hass.async_block_till_done()
        raised: dict[str, float] = {}
        escalated: dict[str, float] = {}
        overdue: dict[str, float] = {}
        done = asyncio.Event()

        def seen(into: dict[str, float], event: Event) -> None:
            if event.data.get("visit_id"):
                into.setdefault(event.data["visit_id"], time.time())
            if len(raised) == homes and set(overdue) >= set(raised):
                done.set()

        def on_escalated(event: Event) -> None:
            if event.data["level"] == 1:
                seen(escalated, event)

        hass.bus.async_listen(EVENT_VISIT_REQUIRED, lambda event: seen(raised, event))
        hass.bus.async_listen(EVENT_VISIT_ESCALATED, on_escalated)
        hass.bus.async_listen(EVENT_VISIT_OVERDUE, lambda event: seen(overdue, event))
        for index in range(homes):
            hass.states.async_set(f"switch.plug_{index}", "unavailable")
        try:
            async with asyncio.timeout(BLIP_DELAY.total_seconds() + RESPONSE_S + 60):
                await done.wait()
        except TimeoutError:
            pass
        born = {
            visit.visit_id: visit.raised_at.timestamp()
            for entry in hass.config_entries.async_entries(DOMAIN)
            for visit in entry.runtime_data.supervisor.open_visits
        }
        await hass.async_stop(force=True)
    missing = [visit for visit in raised if visit not in escalated or visit not in overdue]
    if len(raised) != homes or missing:
        print(f"degenerate run: {len(raised)} visits raised of {homes}, {len(missing)} unfinished")
        sys.exit(1)
    to_event = [raised[visit] - born[visit] for visit in raised]
    to_escalation = [escalated[visit] - born[visit] - ACK_S for visit in raised]
    to_overdue = [overdue[visit] - born[visit] - RESPONSE_S for visit in raised]
    return to_event, to_escalation, to_overdue


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


def main(homes: int = 10) -> None:
    with tempfile.TemporaryDirectory() as config_dir:
        to_event, to_escalation, to_overdue = asyncio.run(measure(homes, config_dir))
    print(f"{homes} visits raised at once, nobody acknowledging (ack 1 min, response 5 min):")
    print(f"  raised -> visit_required on the bus: {_ms(to_event)}")
    print(f"  raised -> visit_escalated (level 1), beyond 1 min: {_ms(to_escalation)}")
    print(f"  raised -> visit_overdue, beyond 5 min: {_ms(to_overdue)}")
    every = to_event + to_escalation + to_overdue
    if min(every) < 0.0 or max(every) > 10.0:
        print("a latency is outside 0 .. 10 s")
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
