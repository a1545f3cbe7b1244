"""Buttons: skip tonight's remaining checks; test the camera without showing anything."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HomeEntity
from .runtime import HomeRuntime, TrygghetskameraConfigEntry

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class HomeButtonDescription(ButtonEntityDescription):
    """A button that acts on the home's runtime as the pressing user."""

    press_fn: Callable[[HomeRuntime, str | None], Awaitable[object]]


BUTTONS: tuple[HomeButtonDescription, ...] = (
    HomeButtonDescription(
        key="skip_tonight",
        translation_key="skip_tonight",
        # "Tonight" after the night's report is the evening to come, as the core decides.
        press_fn=lambda runtime, user_id: runtime.async_skip_night(
            runtime.supervisor.tonight(runtime.now()), user_id
        ),
    ),
    HomeButtonDescription(
        key="test_camera",
        translation_key="test_camera",
        entity_category=EntityCategory.DIAGNOSTIC,
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
        """Act as the user who pressed."""
        user_id = self._context.user_id if self._context else None
        await self.entity_description.press_fn(self.runtime, user_id)
