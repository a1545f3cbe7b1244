"""The "Tillsyn" sidebar panel: a static web component that talks to the operator API.

The static path serves code only, never data (it is served without a login check); every
fact the panel shows comes from the websocket commands, which check the calling user.
`require_admin` would only hide the entry, so the panel is registered for everyone and shows
nothing but a "not an operator" message to a user who operates no home.
"""

from pathlib import Path

from homeassistant.components import panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

PANEL_URL_PATH = DOMAIN
PANEL_COMPONENT = "trygghetskamera-panel"
PANEL_FILE = Path(__file__).parent / "frontend" / f"{PANEL_COMPONENT}.js"
PANEL_STATIC_URL = f"/{DOMAIN}_panel/{PANEL_COMPONENT}.js"


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the panel's module and add "Tillsyn" to the sidebar (needs the frontend)."""
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
        sidebar_title="Tillsyn",
        sidebar_icon="mdi:shield-home",
        require_admin=False,
        config={},
    )
