"""Diagnostics: what an installer may download never holds a credential."""

import json
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_STREAM_URL,
    CONF_USERNAME,
    DOMAIN,
)
from custom_components.trygghetskamera.diagnostics import (
    async_get_config_entry_diagnostics,
    redact_stream_url,
)

from .conftest import home_options
from .test_runtime import Home, at, new_home

USERNAME = "kamerakonto"
PASSWORD = "hemligt-lösen-42"
STREAM_URL = f"rtsp://{USERNAME}:{PASSWORD}@192.0.2.10:554/live?channel=1&pwd={PASSWORD}"


async def _camera_home(hass: HomeAssistant) -> MockConfigEntry:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id="192.0.2.10",
        data={
            CONF_NAME: "Lgh 1203",
            CONF_STREAM_URL: STREAM_URL,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
        },
        options=home_options([operator.id]),
    )
    entry.add_to_hass(hass)
    return entry


def _assert_no_secret(diagnostics: object) -> None:
    text = json.dumps(diagnostics, ensure_ascii=False)
    assert PASSWORD not in text
    assert USERNAME not in text


async def test_diagnostics_redact_password_username_and_url_credentials(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    entry = await _camera_home(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    _assert_no_secret(diagnostics)
    data = diagnostics["data"]
    assert data[CONF_USERNAME] == "**REDACTED**"
    assert data[CONF_PASSWORD] == "**REDACTED**"
    assert data[CONF_STREAM_URL] == "rtsp://192.0.2.10:554/live"
    assert data[CONF_NAME] == "Lgh 1203"
    assert diagnostics["options"]["times"] == ["22:30", "01:30", "04:30"]
    assert diagnostics["state"]["consent"] is True
    assert diagnostics["state"]["visit_required"] is False


async def test_diagnostics_of_a_home_that_is_not_running(hass: HomeAssistant) -> None:
    """A home that failed to start is exactly when an installer downloads diagnostics."""
    entry = await _camera_home(hass)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)

    _assert_no_secret(diagnostics)
    assert diagnostics["data"][CONF_STREAM_URL] == "rtsp://192.0.2.10:554/live"
    assert diagnostics["state"] is None


async def test_diagnostics_show_the_state_of_the_night(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home: Home = await new_home(hass, freezer, night_video, at("21:00"))
    await home.runtime.async_set_faults(frozenset({"plug"}))
    await home.go(at("22:30"))

    diagnostics = await async_get_config_entry_diagnostics(hass, home.entry)

    assert diagnostics["data"][CONF_STREAM_URL] == str(night_video)
    assert diagnostics["state"] == {
        "status": "visit_required",
        "consent": True,
        "commissioned": False,
        "commissioning_missing": ["session"],  # the camera passed its pre-slot test
        "faults": ["plug"],
        "visit_required": True,
        "open_visits": 1,
        "next_supervision": "2026-01-16T00:30:00+00:00",
    }


async def test_diagnostics_keep_faults_across_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home: Home = await new_home(hass, freezer, night_video, at("21:00"))
    await home.runtime.async_set_faults(frozenset({"camera"}))
    await home.restart(at("21:30"))

    diagnostics = await async_get_config_entry_diagnostics(hass, home.entry)

    assert diagnostics["state"]["faults"] == ["camera"]
    assert diagnostics["state"]["status"] == "fault"


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://192.0.2.10:554/live?pwd=hunter2",
        "rtsp://192.0.2.10:554/live?access_token=hunter2",
        "rtsp://192.0.2.10:554/live;pwd=hunter2",
        "rtsp://192.0.2.10:554/live#pwd=hunter2",
        "rtsp://192.0.2.10:554/live;user=a;password=hunter2?x=1#y",
        "rtsp://admin:hunter2@192.0.2.10:554/live?channel=1&auth=hunter2",
        "http://192.0.2.10:554/live?PassWord=hunter2",
    ],
)
def test_diagnostics_drop_query_fragment_and_params_of_the_url(url: str) -> None:
    """As the attacker: a secret under a name the filter does not know still never shows."""
    redacted = redact_stream_url(url)
    assert "hunter2" not in redacted
    assert redacted in {"rtsp://192.0.2.10:554/live", "http://192.0.2.10:554/live"}
