"""The "Tillsyn" panel: registered for everyone, served as code only, fed by `homes`."""

from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
import re
from typing import Any

from homeassistant.auth.models import User
from homeassistant.components.frontend import DATA_PANELS
from homeassistant.const import EVENT_PANELS_UPDATED
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera.const import CONF_TIMES, DOMAIN
from custom_components.trygghetskamera.operator_api import ERROR_MESSAGES
from custom_components.trygghetskamera.panel import PANEL_STATIC_URL, PANEL_URL_PATH

from .conftest import CLIENT_ID, make_home_entry
from .test_gate import add_home_with_open_slot, ws_call


async def operator_token(hass: HomeAssistant, user: User) -> str:
    """A login for `user`."""
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    return hass.auth.async_create_access_token(refresh)


async def test_homes_name_the_device_and_the_open_slot(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_owner_user: User,
    night_video: Path,
    hass_ws_client: WebSocketGenerator,
) -> None:
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    home = await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.id])
    later = (dt_util.now() + timedelta(hours=6)).strftime("%H:%M")
    quiet = make_home_entry("rtsp://127.0.0.1:1/quiet", [operator.id], **{CONF_TIMES: [later]})
    quiet.add_to_hass(hass)
    assert await hass.config_entries.async_setup(quiet.entry_id)
    await hass.async_block_till_done()

    ws = await hass_ws_client(hass, await operator_token(hass, operator))
    reply = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert reply["success"], reply
    homes = {h["entry_id"]: h for h in reply["result"]}

    devices = dr.async_get(hass)
    for entry in (home, quiet):
        device = devices.async_get(homes[entry.entry_id]["device_id"])
        assert device is not None
        assert device.config_entry_id == entry.entry_id

    due = homes[home.entry_id]
    start = datetime.fromisoformat(due["slot_start"])
    end = datetime.fromisoformat(due["slot_end"])
    assert start <= dt_util.utcnow() < end
    assert end - start == timedelta(minutes=home.options["slot_minutes"])
    assert homes[quiet.entry_id]["slot_start"] is None
    assert homes[quiet.entry_id]["slot_end"] is None


async def test_visit_done_takes_the_device_id_the_panel_is_given(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_owner_user: User,
    night_video: Path,
    hass_ws_client: WebSocketGenerator,
) -> None:
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    home = await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.id])
    ws = await hass_ws_client(hass, await operator_token(hass, operator))
    (listed,) = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["entry_id"] == home.entry_id
    # The device id names this home: the action answers for it (no visit is required yet).
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "visit_done", {"device_id": listed["device_id"]}, blocking=True
        )
    assert refused.value.translation_key == "no_visit_required"


async def test_panel_is_in_the_sidebar_for_everyone_and_serves_only_code(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    entry: MockConfigEntry = make_home_entry(str(night_video), [])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    panel = hass.data[DATA_PANELS][PANEL_URL_PATH]
    # The test server's language is English: the sidebar says so for everyone.
    assert hass.config.language == "en"
    assert panel.sidebar_title == "Supervision"
    assert panel.sidebar_icon == "mdi:shield-home"
    # Hiding it from non-admins would be cosmetic only; the panel itself shows them nothing.
    assert panel.require_admin is False
    assert panel.config["_panel_custom"]["module_url"] == PANEL_STATIC_URL

    client = await hass_client_no_auth()
    response = await client.get(PANEL_STATIC_URL)
    assert response.status == HTTPStatus.OK
    code = await response.text()
    assert 'customElements.define("trygghetskamera-panel"' in code
    assert "localStorage" not in code
    # The served file is code: no home, name or entry id is baked into it.
    assert entry.entry_id not in code
    assert "Lgh 1203" not in code


async def test_the_sidebar_title_follows_the_servers_language(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_admin_user: User,
    night_video: Path,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Swedish server: "Tillsyn"; the language changed in the settings: registered again."""
    await hass.config.async_update(language="sv")
    assert await async_setup_component(hass, "frontend", {})
    entry = make_home_entry(str(night_video), [])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ws = await hass_ws_client(hass)

    async def sidebar() -> dict[str, Any]:
        reply = await ws_call(ws, {"type": "get_panels"})
        assert reply["success"], reply
        return dict(reply["result"][PANEL_URL_PATH])

    assert (await sidebar())["title"] == "Tillsyn"
    updates = async_capture_events(hass, EVENT_PANELS_UPDATED)

    # Another setting changes: the panel is left alone.
    await hass.config.async_update(time_zone="Europe/Stockholm")
    await hass.async_block_till_done()
    assert updates == []

    await hass.config.async_update(language="en")
    await hass.async_block_till_done()
    english = await sidebar()
    assert english["title"] == "Supervision"
    assert len(updates) == 1
    # The same panel under its new title: the module, icon and access are kept.
    assert english["config"]["_panel_custom"]["module_url"] == PANEL_STATIC_URL
    assert english["config"]["_panel_custom"]["name"] == "trygghetskamera-panel"
    assert english["icon"] == "mdi:shield-home"
    assert english["require_admin"] is False

    await hass.config.async_update(language="sv-SE")
    await hass.async_block_till_done()
    assert (await sidebar())["title"] == "Tillsyn"


async def test_without_the_frontend_there_is_no_panel(
    hass: HomeAssistant, night_video: Path
) -> None:
    entry = make_home_entry(str(night_video), [])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert PANEL_URL_PATH not in hass.data.get(DATA_PANELS, {})


async def test_homes_tell_the_slot_result_and_the_night_to_skip(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_owner_user: User,
    night_video: Path,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """After a look the panel says "Checked 11:04, OK"; Skip tonight names the night, and undo.

    Before: `homes` had no slot result and no night, so the panel showed minutes left on a
    home already checked, and skipped without saying which night."""
    from homeassistant.core import Context

    from .test_gate import read_frames

    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    home = await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.id])
    ws = await hass_ws_client(hass, await operator_token(hass, operator))
    (listed,) = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["slot_result"] is None
    # The only slot is open now: "tonight" is the coming evening's night, not the ending one.
    tonight = home.runtime_data.tonight()
    assert listed["tonight"] == tonight.isoformat()
    assert listed["skipped_nights"] == []
    assert listed["may_skip"] is True
    assert listed["may_unskip"] is False

    started = (await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id}))[
        "result"
    ]
    client = await hass_client_no_auth()
    response = await client.get(started["stream_path"])
    assert len(await read_frames(response, 2)) == 2
    outcome = await ws_call(
        ws,
        {"type": f"{DOMAIN}/session/outcome", "session_id": started["session_id"], "outcome": "ok"},
    )
    assert outcome["success"], outcome
    await hass.async_block_till_done()
    (listed,) = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["slot_result"]["outcome"] == "ok"
    assert datetime.fromisoformat(listed["slot_result"]["at"]) >= datetime.fromisoformat(
        listed["slot_start"]
    )

    await hass.services.async_call(
        DOMAIN,
        "skip_night",
        {"device_id": listed["device_id"]},
        blocking=True,
        context=Context(user_id=operator.id),
    )
    (listed,) = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["skipped_nights"] == [tonight.isoformat()]
    assert (listed["may_skip"], listed["may_unskip"]) == (False, True)
    await hass.services.async_call(
        DOMAIN,
        "unskip_night",
        {"device_id": listed["device_id"]},
        blocking=True,
        context=Context(user_id=operator.id),
    )
    (listed,) = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["skipped_nights"] == []
    assert listed["may_skip"] is True


PANEL_JS = (
    Path(__file__).parent.parent
    / "custom_components"
    / DOMAIN
    / "frontend"
    / "trygghetskamera-panel.js"
)


def panel_error_texts() -> dict[str, set[str]]:
    """The refusal codes the panel words itself, per language (its `error: {…}` tables)."""
    source = PANEL_JS.read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for language in ("en", "sv"):
        start = source.index(f"\n  {language}: {{")
        table = source.index("    error: {", start)
        end = source.index("\n    },", table)
        found[language] = set(re.findall(r"^      (\w+):", source[table:end], re.MULTILINE))
    return found


def test_the_panel_words_every_refusal_in_both_languages() -> None:
    """A refusal the panel has no words for shows as "Something went wrong: <English code text>".

    `decision_ended` was one: a Swedish operator read an English message behind an error.
    """
    codes = set(ERROR_MESSAGES)
    for language, texts in panel_error_texts().items():
        assert codes <= texts, (language, sorted(codes - texts))
