"""Sensors: the home's status and the times of its next and last supervision."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .entity import HomeEntity
from .runtime import HomeRuntime, TrygghetskameraConfigEntry
from .supervision import Status

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class HomeSensorDescription(SensorEntityDescription):
    """A sensor whose value and attributes come from the home's runtime."""

    value_fn: Callable[[HomeRuntime], str | datetime | None]
    attributes_fn: Callable[[HomeRuntime], Mapping[str, Any]] = lambda _: {}


def _last_outcome(runtime: HomeRuntime) -> dict[str, Any]:
    last = runtime.supervisor.last_supervision
    return {"outcome": str(last[1]) if last else None}


SENSORS: tuple[HomeSensorDescription, ...] = (
    HomeSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[str(status) for status in Status],
        value_fn=lambda runtime: str(runtime.supervisor.status(dt_util.utcnow())),
        attributes_fn=lambda runtime: {
            "commissioned": runtime.supervisor.commissioned,
            "last_night_report": runtime.supervisor.last_night_report,
        },
    ),
    HomeSensorDescription(
        key="next_supervision",
        translation_key="next_supervision",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda runtime: runtime.supervisor.next_supervision(dt_util.utcnow()),
    ),
    HomeSensorDescription(
        key="last_supervision",
        translation_key="last_supervision",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda runtime: last[0] if (last := runtime.supervisor.last_supervision) else None,
        attributes_fn=_last_outcome,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TrygghetskameraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the home's sensors."""
    async_add_entities(HomeSensor(entry.runtime_data, description) for description in SENSORS)


class HomeSensor(HomeEntity, SensorEntity):
    """A sensor of one home."""

    entity_description: HomeSensorDescription
    # The last night report is for automations (the morning summary), not for the history.
    # What a look showed, and the night's report, are the resident's: never in the recorder.
    _unrecorded_attributes = frozenset({"last_night_report", "outcome"})

    @property
    def native_value(self) -> str | datetime | None:
        """Return the value from the home's state."""
        return self.entity_description.value_fn(self.runtime)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Return the contract's attributes."""
        return self.entity_description.attributes_fn(self.runtime)
