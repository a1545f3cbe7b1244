"""Base entity: one device per home, updated whenever the home's state changes."""

from typing import override

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .runtime import HomeRuntime


def home_device_info(entry_id: str, name: str) -> DeviceInfo:
    """The device that stands for one home."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry_id)},
        name=name,
        manufacturer="Trygghetskamera",
        model="Digital night supervision",
        # A home is a device (not a "service"): Home Assistant lists it as "1 device".
    )


class HomeEntity(Entity):
    """An entity of one home."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, runtime: HomeRuntime, description: EntityDescription) -> None:
        """Bind the entity to its home."""
        self.runtime = runtime
        self.entity_description = description
        self._attr_unique_id = f"{runtime.entry.entry_id}_{description.key}"
        self._attr_device_info = home_device_info(runtime.entry.entry_id, runtime.name)

    @property
    @override
    def suggested_object_id(self) -> str | None:
        """The entity's key, in every language (`binary_sensor.lgh_1203_visit_required`).

        Names are worded for people ("Physical visit needed") and may be reworded; the id an
        automation uses stays the key, whatever the server's language.
        """
        return self.entity_description.key

    async def async_added_to_hass(self) -> None:
        """Follow the home's state."""
        self.async_on_remove(self.runtime.async_add_listener(self.async_write_ha_state))
