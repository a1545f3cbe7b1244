"""Consent: who consented (by role), when, on what document, and who entered it.

The law since 1 March 2024 needs the consent of the resident and of any close relative living
there. Withdrawal stays easy (the switch); consent given again goes only through the home's
options (the consent step), which Home Assistant opens to administrators only, through its real
HTTP API here.
"""

from http import HTTPStatus
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera.audit import AuditRecord
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_NAME,
    CONF_OPERATORS,
    CONF_STREAM_URL,
    CONSENT_RECORD,
    DOMAIN,
)
from simulators.camera import MjpegServer

from .conftest import CLIENT_ID, Person
from .test_runtime import Home, at, new_home
from .test_services import assert_translated

SCHEDULE = {
    "times": ["22:30", "01:30", "04:30"],
    "view_seconds": 30,
    "slot_minutes": 30,
    "follow_up_minutes": 20,
    "follow_ups": 1,
}
CONSENT = {
    "consent_by": "resident",
    "co_residents": 1,
    "consent_date": "2026-01-10",
    "consent_document": "Dnr SN 2026/117",
    "consent": True,
}


async def records(hass: HomeAssistant, kind: str) -> list[AuditRecord]:
    log = hass.data[AUDIT_TRAIL].log
    found = await hass.async_add_executor_job(log.query)
    return [record for record in found if record.kind == kind]


async def _to_consent_step(hass: HomeAssistant, camera: MjpegServer, operator: Person) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Lgh 1203", CONF_STREAM_URL: camera.url}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.user.id]}
    )
    while result["type"] is FlowResultType.FORM and result["step_id"] != "consent":
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "consent"
    return str(result["flow_id"])


async def test_adding_a_home_records_who_consented_and_on_what(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    network_camera: MjpegServer,
    operator: Person,
) -> None:
    freezer.move_to(at("14:00"))
    flow_id = await _to_consent_step(hass, network_camera, operator)
    result = await hass.config_entries.flow.async_configure(flow_id, CONSENT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    record = entry.data[CONSENT_RECORD]
    assert record["persons"] == [{"role": "resident"}, {"role": "co_resident"}]
    assert record["date"] == "2026-01-10"
    assert record["document"] == "Dnr SN 2026/117"
    assert "entered_at" in record
    await hass.async_block_till_done()
    [logged] = await records(hass, "consent_recorded")
    assert logged.entry_id == entry.entry_id
    assert logged.data["consent"] is True
    assert logged.data["persons"] == record["persons"]
    assert logged.data["document"] == "Dnr SN 2026/117"


async def test_a_legal_representative_may_consent_for_the_resident(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    network_camera: MjpegServer,
    operator: Person,
) -> None:
    freezer.move_to(at("14:00"))
    flow_id = await _to_consent_step(hass, network_camera, operator)
    result = await hass.config_entries.flow.async_configure(
        flow_id, CONSENT | {"consent_by": "legal_representative", "co_residents": 0}
    )
    assert result["result"].data[CONSENT_RECORD]["persons"] == [{"role": "legal_representative"}]


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"consent": False}, "consent", "consent_required"),
        ({"consent_date": "2026-01-16"}, "consent_date", "consent_date_future"),
        ({"consent_document": "Samtycke 19450101-1234"}, "consent_document", "document_invalid"),
    ],
)
async def test_the_consent_step_refuses_what_cannot_stand(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    network_camera: MjpegServer,
    operator: Person,
    change: dict[str, Any],
    field: str,
    error: str,
) -> None:
    freezer.move_to(at("14:00"))
    flow_id = await _to_consent_step(hass, network_camera, operator)
    result = await hass.config_entries.flow.async_configure(flow_id, CONSENT | change)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}


# --- withdrawal and consent given again --------------------------------------------------


@pytest.fixture
async def home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path, hass_owner_user: User
) -> Home:
    """A home whose consent was recorded; its operator is no admin (the owner exists first)."""
    home = await new_home(hass, freezer, night_video, at("21:00"))
    hass.config_entries.async_update_entry(
        home.entry,
        data=dict(home.entry.data)
        | {
            CONSENT_RECORD: {
                "persons": [{"role": "resident"}],
                "date": "2026-01-02",
                "document": "Dnr 1",
                "entered_by": None,
                "entered_at": "2026-01-02T10:00:00+00:00",
            }
        },
    )
    await hass.async_block_till_done()
    return home


async def test_withdrawal_through_the_switch_records_the_consent_it_ends(
    hass: HomeAssistant, home: Home
) -> None:
    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": home.entity_id("consent")},
        blocking=True,
        context=Context(user_id=home.operator_id),
    )
    assert home.state("consent").state == "off"
    [withdrawn] = await records(hass, "consent_recorded")
    assert withdrawn.user_id == home.operator_id
    assert withdrawn.data["consent"] is False
    assert withdrawn.data["withdrawn_by_roles"] == ["operator"]
    assert withdrawn.data["persons"] == [{"role": "resident"}]
    assert withdrawn.data["document"] == "Dnr 1"
    assert withdrawn.data["withdrawn_on"] == "2026-01-15"


async def test_the_switch_never_gives_consent_again(hass: HomeAssistant, home: Home) -> None:
    """Attack (issue 18 item 1): any user switched consent back on after it was withdrawn."""
    await home.runtime.async_set_consent(False, None)
    admin = await hass.auth.async_create_user("Admin", group_ids=["system-admin"])
    for user_id in (home.operator_id, admin.id, None):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                "switch",
                "turn_on",
                {"entity_id": home.entity_id("consent")},
                blocking=True,
                context=Context(user_id=user_id),
            )
        assert_translated(err.value, "consent_in_options")
    assert home.state("consent").state == "off"
    denied = await records(hass, "action_denied")
    assert {(r.user_id, r.data["action"]) for r in denied} == {
        (home.operator_id, "consent_on"),
        (admin.id, "consent_on"),
        (None, "consent_on"),
    }


async def _options_http(
    hass: HomeAssistant, client: Any, flow_id: str | None, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    url = "/api/config/config_entries/options/flow"
    response = await client.post(f"{url}/{flow_id}" if flow_id else url, json=body)
    if response.status != HTTPStatus.OK:
        return response.status, {}
    return response.status, await response.json()


async def test_an_admin_gives_consent_again_in_the_options_consent_step(
    hass: HomeAssistant, home: Home, hass_client: ClientSessionGenerator, hass_admin_user: User
) -> None:
    assert await async_setup_component(hass, "config", {})
    await home.runtime.async_withdraw_consent(home.operator_id, ["operator"])
    client = await hass_client()
    status, result = await _options_http(hass, client, None, {"handler": home.entry.entry_id})
    assert status == HTTPStatus.OK, result
    assert result["type"] == "menu"
    assert result["menu_options"] == ["consent", "schedule"]
    status, result = await _options_http(
        hass, client, result["flow_id"], {"next_step_id": "consent"}
    )
    assert result["step_id"] == "consent"
    flow_id = result["flow_id"]
    status, result = await _options_http(hass, client, flow_id, CONSENT | {"consent_document": ""})
    assert result["errors"] == {"consent_document": "document_required"}
    status, result = await _options_http(hass, client, flow_id, CONSENT)
    assert result["type"] == "create_entry", result
    await hass.async_block_till_done()

    assert home.state("consent").state == "on"
    record = home.entry.data[CONSENT_RECORD]
    assert record["entered_by"] == hass_admin_user.id
    assert record["persons"] == [{"role": "resident"}, {"role": "co_resident"}]
    given = [r for r in await records(hass, "consent_recorded") if r.data["consent"]]
    assert len(given) == 1
    assert given[0].user_id == hass_admin_user.id
    assert given[0].data["document"] == "Dnr SN 2026/117"
    assert given[0].data["date"] == "2026-01-10"
    # The core's own record of the change names the admin too.
    [changed] = [r for r in await records(hass, "consent_changed") if r.data["consent"]]
    assert changed.user_id == hass_admin_user.id


async def test_only_an_admin_reaches_the_consent_step(
    hass: HomeAssistant, home: Home, hass_client: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "config", {})
    await home.runtime.async_set_consent(False, None)
    operator = await hass.auth.async_get_user(home.operator_id)
    assert operator is not None
    refresh = await hass.auth.async_create_refresh_token(operator, CLIENT_ID)
    client = await hass_client(hass.auth.async_create_access_token(refresh))
    status, _result = await _options_http(hass, client, None, {"handler": home.entry.entry_id})
    assert status == HTTPStatus.UNAUTHORIZED
    # Without a known user (not through Home Assistant's HTTP API) the step gives up.
    result = await hass.config_entries.options.async_init(home.entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "consent"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "consent_admin_only"
    assert home.state("consent").state == "off"


async def test_with_consent_in_force_the_options_open_as_before(
    hass: HomeAssistant, home: Home
) -> None:
    result = await hass.config_entries.options.async_init(home.entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "schedule"
