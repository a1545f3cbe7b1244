"""Buttons: skip tonight's remaining checks; test the camera without showing anything."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .authz import Action, async_authorize
from .entity import HomeEntity
from .runtime import HomeRuntime, TrygghetskameraConfigEntry

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class HomeButtonDescription(ButtonEntityDescription):
    """A button that acts on the home's runtime as the pressing user, if their role allows."""

    action: Action
    press_fn: Callable[[HomeRuntime, str | None], Awaitable[object]]


BUTTONS: tuple[HomeButtonDescription, ...] = (
    HomeButtonDescription(
        key="skip_tonight",
        translation_key="skip_tonight",
        action=Action.SKIP_TONIGHT,
        # The night of the next agreed time, as the core decides: never the one that is ending.
        press_fn=lambda runtime, user_id: runtime.async_skip_night(runtime.tonight(), user_id),
    ),
    HomeButtonDescription(
        key="test_camera",
        translation_key="test_camera",
        entity_category=EntityCategory.DIAGNOSTIC,
        action=Action.TEST_CAMERA,
        press_fn=lambda runtime, user_id: runtime.async_probe_camera(user_id),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TrygghetskameraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the home's buttons."""
    async_add_entities(HomeButton(entry.runtime_data, description) for description in BUTTONS)


class HomeButton(HomeEntity, ButtonEntity):
    """A button of one home."""

    entity_description: HomeButtonDescription

    async def async_press(self) -> None:
        """Act as the user who pressed (an automation when the call carries no user)."""
        context = self._context or Context()
        await async_authorize(
            self.hass, self.runtime.entry, self.entity_description.action, context
        )
        await self.entity_description.press_fn(self.runtime, context.user_id)
