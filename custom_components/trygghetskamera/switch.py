"""The consent switch: on while the resident consents to digital supervision."""

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HomeEntity
from .runtime import TrygghetskameraConfigEntry

PARALLEL_UPDATES = 0

CONSENT = SwitchEntityDescription(key="consent", translation_key="consent")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TrygghetskameraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the consent switch."""
    async_add_entities([ConsentSwitch(entry.runtime_data, CONSENT)])


class ConsentSwitch(HomeEntity, SwitchEntity):
    """Consent to digital supervision; off means no frame can be seen and visits replace looks."""

    @property
    def is_on(self) -> bool:
        """Return whether consent is given."""
        return self.runtime.supervisor.consent

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Consent given (again)."""
        await self.runtime.async_set_consent(True, self._context.user_id if self._context else None)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Consent withdrawn: effective at once."""
        await self.runtime.async_set_consent(
            False, self._context.user_id if self._context else None
        )
