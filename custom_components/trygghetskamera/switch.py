"""The consent switch: on while the resident consents to digital supervision.

Withdrawal stays easy: operators of the home, admins and automations may turn it off. Consent
is never given again through the switch: that is the home's options' consent step, by an admin,
where who consented, when and on what document is recorded.
"""

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .authz import Action, async_authorize, async_log_denied
from .const import DOMAIN
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
        """Refused: consent is given again in the home's options, by an admin."""
        if self.runtime.supervisor.consent:
            return
        context = self._context or Context()
        await async_log_denied(self.hass, self.runtime.entry, Action.CONSENT_ON, context.user_id)
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="consent_in_options",
            translation_placeholders={"name": self.runtime.name},
        )

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Consent withdrawn: effective at once."""
        context = self._context or Context()
        roles = await async_authorize(self.hass, self.runtime.entry, Action.CONSENT_OFF, context)
        await self.runtime.async_withdraw_consent(context.user_id, roles)
