"""Binary sensors: a physical visit is required; an equipment fault is present."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HomeEntity
from .runtime import HomeRuntime, TrygghetskameraConfigEntry
from .supervision import visit_state

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class HomeBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor whose state and attributes come from the home's runtime."""

    is_on_fn: Callable[[HomeRuntime], bool]
    attributes_fn: Callable[[HomeRuntime], Mapping[str, Any]]


def _visit_attributes(runtime: HomeRuntime) -> dict[str, Any]:
    supervisor = runtime.supervisor
    reason = supervisor.visit_reason
    return {
        "reason": str(reason) if reason else None,
        "urgent": supervisor.urgent,
        # Each open visit with its id: what `visit_acknowledge` and `visit_done` act on.
        "open_visits": [visit_state(visit) for visit in supervisor.open_visits],
    }


BINARY_SENSORS: tuple[HomeBinarySensorDescription, ...] = (
    HomeBinarySensorDescription(
        key="visit_required",
        translation_key="visit_required",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda runtime: runtime.supervisor.visit_required,
        attributes_fn=_visit_attributes,
    ),
    HomeBinarySensorDescription(
        key="equipment",
        translation_key="equipment",
        device_class=BinarySensorDeviceClass.PROBLEM,
        # The core's faults are restored with its state; the runtime's copy starts empty.
        is_on_fn=lambda runtime: bool(runtime.supervisor.faults),
        attributes_fn=lambda runtime: {"faults": sorted(runtime.supervisor.faults)},
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TrygghetskameraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the home's binary sensors."""
    async_add_entities(
        HomeBinarySensor(entry.runtime_data, description) for description in BINARY_SENSORS
    )


class HomeBinarySensor(HomeEntity, BinarySensorEntity):
    """A binary sensor of one home."""

    entity_description: HomeBinarySensorDescription
    # Why a visit is needed (`needs_help`…) and who acknowledged it: never in the recorder.
    _unrecorded_attributes = frozenset({"reason", "urgent", "open_visits"})

    @property
    def is_on(self) -> bool:
        """Return the state from the home's runtime."""
        return self.entity_description.is_on_fn(self.runtime)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Return the contract's attributes."""
        return self.entity_description.attributes_fn(self.runtime)
