"""The "Tillsyn" sidebar panel: a static web component that talks to the operator API.

The static path serves code only, never data (it is served without a login check); every
fact the panel shows comes from the websocket commands, which check the calling user.
`require_admin` would only hide the entry, so the panel is registered for everyone and shows
nothing but a "not an operator" message to a user who operates no home.

Home Assistant keeps one sidebar title per panel for every user (a custom panel's title is not
translated per user), so the title follows the server's language ("Tillsyn" on a Swedish
server, "Supervision" otherwise) and is registered again when that language changes. The
panel's own header uses the same title when the user's language is the server's.
"""

from pathlib import Path
from typing import Any

from homeassistant.components import frontend, panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN

PANEL_URL_PATH = DOMAIN
PANEL_COMPONENT = "trygghetskamera-panel"
PANEL_FILE = Path(__file__).parent / "frontend" / f"{PANEL_COMPONENT}.js"
PANEL_STATIC_URL = f"/{DOMAIN}_panel/{PANEL_COMPONENT}.js"
PANEL_ICON = "mdi:shield-home"
TITLE_SV = "Tillsyn"
TITLE_EN = "Supervision"


def sidebar_title(language: str) -> str:
    """The sidebar title in the server's language: Swedish, else English."""
    return TITLE_SV if language.lower().startswith("sv") else TITLE_EN


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the panel's module and add it to the sidebar (needs the frontend)."""
    if "frontend" not in hass.config.components:
        return
    await hass.http.async_register_static_paths(
        [StaticPathConfig(PANEL_STATIC_URL, str(PANEL_FILE), cache_headers=False)]
    )
    await panel_custom.async_register_panel(
        hass,
        webcomponent_name=PANEL_COMPONENT,
        frontend_url_path=PANEL_URL_PATH,
        module_url=PANEL_STATIC_URL,
        sidebar_title=sidebar_title(hass.config.language),
        sidebar_icon=PANEL_ICON,
        require_admin=False,
        config={},
    )

    @callback
    def _language_changed(event: Event[dict[str, Any]]) -> None:
        """Give the sidebar the title in the server's new language."""
        panel = hass.data.get(frontend.DATA_PANELS, {}).get(PANEL_URL_PATH)
        title = sidebar_title(hass.config.language)
        if panel is None or panel.sidebar_title == title:
            return
        # The same panel (panel_custom's config kept) under the new title.
        frontend.async_register_built_in_panel(
            hass,
            component_name=panel.component_name,
            sidebar_title=title,
            sidebar_icon=panel.sidebar_icon,
            frontend_url_path=PANEL_URL_PATH,
            config=panel.config,
            require_admin=panel.require_admin,
            update=True,
        )

    hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, _language_changed)
