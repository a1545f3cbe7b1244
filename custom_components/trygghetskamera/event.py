"""The `supervision` event entity: one event per completed, missed or skipped check and more."""

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HomeEntity
from .runtime import ENTITY_EVENT_TYPES, TrygghetskameraConfigEntry
from .supervision import Event

PARALLEL_UPDATES = 0

SUPERVISION = EventEntityDescription(
    key="supervision",
    translation_key="supervision",
    event_types=[str(event_type) for event_type in ENTITY_EVENT_TYPES],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TrygghetskameraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the supervision event entity."""
    async_add_entities([SupervisionEvent(entry.runtime_data, SUPERVISION)])


class SupervisionEvent(HomeEntity, EventEntity):
    """Fires the home's supervision events, with the slot and the event's details."""

    async def async_added_to_hass(self) -> None:
        """Receive the home's events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.runtime.async_add_event_listener(self._handle))

    @callback
    def _handle(self, event: Event) -> None:
        attributes = {"slot": event.slot} | {
            key: value for key, value in event.data.items() if key != "user_id"
        }
        self._trigger_event(str(event.type), attributes)
        self.async_write_ha_state()
