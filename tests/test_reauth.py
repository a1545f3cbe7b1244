"""A changed camera password: the home asks for it while it keeps running.

The camera is Debian's GStreamer RTSP server demanding basic auth (tests/rtsp_server_gst.py),
the home a real config entry set up in Home Assistant; the probe is the home's own (the
`test_camera` button), the flow HA's reauthentication flow. Home Assistant's clock is not frozen:
the probe talks to a real server with real timeouts.
"""

from collections.abc import Iterator
from typing import Any

from homeassistant.auth.models import User
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.trygghetskamera.const import (
    CONF_NAME,
    CONF_PASSWORD,
    CONF_STREAM_URL,
    CONF_USERNAME,
    DOMAIN,
)
from custom_components.trygghetskamera.health import repair_issue_id

from .conftest import make_home_entry
from .media_sources import RtspServer

USERNAME = "kamera"
OLD_PASSWORD = "gammalt-lösenord"
NEW_PASSWORD = "nytt-lösenord"


@pytest.fixture(name="camera")
def camera_fixture(socket_enabled: None) -> Iterator[RtspServer]:
    """The camera, whose password the installer has just changed."""
    with RtspServer(username=USERNAME, password=NEW_PASSWORD) as server:
        yield server


@pytest.fixture(name="entry")
async def entry_fixture(hass: HomeAssistant, camera: RtspServer) -> MockConfigEntry:
    """A running home that still has the camera's old password."""
    operator: User = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    options = make_home_entry(camera.url, [operator.id]).options
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id=camera.url,
        data={
            CONF_NAME: "Lgh 1203",
            CONF_STREAM_URL: camera.url,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: OLD_PASSWORD,
        },
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def entity(hass: HomeAssistant, entry: MockConfigEntry, platform: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}")
    assert entity_id is not None, key
    return entity_id


async def press_test_camera(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Press the home's `test_camera` button: the home probes its camera."""
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity(hass, entry, "button", "test_camera")},
        blocking=True,
    )
    await hass.async_block_till_done()


def faults(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    state = hass.states.get(entity(hass, entry, "binary_sensor", "equipment"))
    assert state is not None
    return list(state.attributes["faults"])


def reauth_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def test_a_refused_password_asks_for_a_new_one_while_the_home_keeps_running(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    runtime = entry.runtime_data
    await press_test_camera(hass, entry)
    # The camera fault stands (its looks become visits) and the home runs on, asking once.
    assert faults(hass, entry) == ["camera"]
    assert ir.async_get(hass).async_get_issue(DOMAIN, repair_issue_id(entry.entry_id, "camera"))
    assert entry.state is ConfigEntryState.LOADED
    (flow,) = reauth_flows(hass)
    assert flow["step_id"] == "reauth_confirm"
    assert flow["context"]["entry_id"] == entry.entry_id
    await press_test_camera(hass, entry)
    assert len(reauth_flows(hass)) == 1

    # A wrong password is tried, refused and not saved.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: "fel"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert entry.data[CONF_PASSWORD] == OLD_PASSWORD

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: NEW_PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_PASSWORD] == NEW_PASSWORD
    assert entry.data[CONF_STREAM_URL] == entry.unique_id
    # No reload: the same running home, its camera fault cleared by its own probe.
    assert entry.runtime_data is runtime
    assert faults(hass, entry) == []
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, repair_issue_id(entry.entry_id, "camera"))
        is None
    )
    assert reauth_flows(hass) == []


async def test_a_camera_that_cannot_be_reached_asks_for_no_password(
    hass: HomeAssistant, entry: MockConfigEntry, camera: RtspServer
) -> None:
    camera.__exit__(None, None, None)
    await press_test_camera(hass, entry)
    assert faults(hass, entry) == ["camera"]
    assert reauth_flows(hass) == []
