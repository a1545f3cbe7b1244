"""The actions staff and automations call: visit done, skip a night, test the camera."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, frame
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.trygghetskamera.const import CONF_TIMES, DOMAIN
from custom_components.trygghetskamera.lookup import entry_for_device
from custom_components.trygghetskamera.runtime import AuditFact
from custom_components.trygghetskamera.supervision import Outcome
from simulators.camera import MjpegServer

from .test_runtime import NIGHT, Home, at, iso_utc, new_home

INTEGRATION = Path(__file__).parent.parent / "custom_components" / DOMAIN


def _exception_keys(path: Path) -> set[str]:
    return set(json.loads(path.read_text(encoding="utf-8")).get("exceptions", {}))


def assert_translated(err: ServiceValidationError, key: str) -> None:
    """The error names its translation, and every language has a message for it."""
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    for path in (
        INTEGRATION / "strings.json",
        INTEGRATION / "translations" / "en.json",
        INTEGRATION / "translations" / "sv.json",
    ):
        assert key in _exception_keys(path), path.name


@pytest.fixture
async def home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path, hass_owner_user: User
) -> Home:
    """A typical home, set up at 21:00; its operator is no admin (the owner exists first)."""
    return await new_home(hass, freezer, night_video, at("21:00"))


@pytest.fixture
async def night_staff(home: Home) -> str:
    """The id of a real user of the night patrol: an operator of the home."""
    return home.operator_id


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], user_id: str | None = None
) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        service,
        data,
        blocking=True,
        context=Context(user_id=user_id),
        return_response=service == "probe_camera",
    )


# --- visit_done ----------------------------------------------------------------------------


async def test_visit_done_clears_the_visit_and_records_who(
    hass: HomeAssistant, home: Home, night_staff: str
) -> None:
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    await home.go(at("23:00"))
    assert home.state("visit_required").state == "on"

    await home.go(at("23:20"))
    await _call(hass, "visit_done", {"device_id": home.device_id, "note": "Sov gott"}, night_staff)

    assert home.state("visit_required").state == "off"
    assert home.reason is None
    assert home.status == "waiting"
    assert [event.data for event in home.visits_cleared] == [
        {"entry_id": home.entry.entry_id, "device_id": home.device_id, "name": "Lgh 1203"}
    ]
    [done] = [fact for fact in facts if fact.kind == "visit_done"]
    assert done.user_id == night_staff
    assert done.data["note"] == "Sov gott"
    [visit_id] = [event.data["visit_id"] for event in home.visits_required]
    assert done.data["visits"] == [
        {
            "visit_id": visit_id,
            "slot": "2026-01-15T22:30:00+01:00",
            "reason": "missed",
            "response_minutes": 20.0,
        }
    ]

    # The night report says the visit was made.
    await home.go(at("06:00"))
    [report] = home.night_reports
    assert report.data["slots"][0]["visit_done"] is True


async def test_visit_done_acknowledges_every_open_visit_at_once(
    hass: HomeAssistant, home: Home
) -> None:
    await home.go(at("23:00"))
    await home.go(at("01:31"))
    await home.look(Outcome.NEEDS_HELP)
    assert len(home.state("visit_required").attributes["open_visits"]) == 2
    await _call(hass, "visit_done", {"device_id": home.device_id})
    assert home.state("visit_required").state == "off"
    assert len(home.visits_cleared) == 1


async def test_visit_done_without_a_visit_is_refused(hass: HomeAssistant, home: Home) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "visit_done", {"device_id": home.device_id})
    assert_translated(err.value, "no_visit_required")
    assert home.visits_cleared == []


async def test_unknown_device_is_refused(hass: HomeAssistant, home: Home) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "visit_done", {"device_id": "not-a-device"})
    assert_translated(err.value, "unknown_device")


async def test_a_device_of_another_integration_is_refused(hass: HomeAssistant, home: Home) -> None:
    other = MockConfigEntry(domain="demo")
    other.add_to_hass(hass)
    lamp = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("demo", "lamp")}, name="Lampa"
    )
    for service in ("visit_done", "skip_night", "probe_camera"):
        with pytest.raises(ServiceValidationError) as err:
            await _call(hass, service, {"device_id": lamp.id})
        assert_translated(err.value, "unknown_device")


async def test_a_home_is_found_from_its_device_without_a_deprecated_look_up(
    hass: HomeAssistant,
    home: Home,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Home Assistant 2026.10 warns of `DeviceEntry.config_entries`; 2027.10 removes it."""
    # Home Assistant reports a deprecated use once per place and process: forget earlier ones.
    monkeypatch.setattr(frame, "_REPORTED_INTEGRATIONS", set())
    assert entry_for_device(hass, home.device_id) is home.entry
    assert "DeviceEntry.config_entries" not in caplog.text


async def test_a_home_that_is_not_running_is_refused(hass: HomeAssistant, home: Home) -> None:
    device_id = home.device_id
    assert await hass.config_entries.async_unload(home.entry.entry_id)
    await hass.async_block_till_done()
    for service in ("visit_done", "skip_night", "probe_camera"):
        with pytest.raises(ServiceValidationError) as err:
            await _call(hass, service, {"device_id": device_id})
        assert_translated(err.value, "home_not_running")


# --- skip_night ----------------------------------------------------------------------------


async def test_skip_night_in_the_past_is_refused(hass: HomeAssistant, home: Home) -> None:
    yesterday = NIGHT - timedelta(days=1)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "skip_night", {"device_id": home.device_id, "date": str(yesterday)})
    assert_translated(err.value, "night_in_past")
    assert home.status == "waiting"


async def test_skip_night_that_is_over_is_refused(hass: HomeAssistant, home: Home) -> None:
    for clock in ("22:31", "01:31", "04:31"):
        await home.go(at(clock))
        await home.look(Outcome.OK)
    await home.go(at("06:00"))
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "skip_night", {"device_id": home.device_id, "date": str(NIGHT)})
    assert_translated(err.value, "night_in_past")


async def test_skip_night_is_logged_with_the_caller(
    hass: HomeAssistant, home: Home, night_staff: str
) -> None:
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    await _call(hass, "skip_night", {"device_id": home.device_id}, night_staff)
    skipped = [fact for fact in facts if fact.kind == "skipped"]
    assert len(skipped) == 3
    assert {fact.user_id for fact in skipped} == {night_staff}
    assert home.status == "skipped"


async def test_skip_night_tonight_while_a_slot_is_open(hass: HomeAssistant, home: Home) -> None:
    await home.go(at("22:40"))
    assert home.status == "due"
    await _call(hass, "skip_night", {"device_id": home.device_id})
    assert home.status == "skipped"
    await home.go(at("06:00"))
    assert home.visits_required == []
    [report] = home.night_reports
    assert {slot["result"] for slot in report.data["slots"]} == {"skipped"}


# --- probe_camera --------------------------------------------------------------------------


async def test_probe_camera_returns_ok_reason_and_time(
    hass: HomeAssistant, home: Home, night_staff: str
) -> None:
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    response = await _call(hass, "probe_camera", {"device_id": home.device_id}, night_staff)
    assert set(response) == {"ok", "reason", "ms"}
    assert response["ok"] is True
    assert response["reason"] is None
    assert isinstance(response["ms"], int)
    assert response["ms"] >= 0
    [probe] = [fact for fact in facts if fact.kind == "camera_probe"]
    assert probe.user_id == night_staff


async def test_probe_camera_reports_a_black_picture(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, black_video: Path
) -> None:
    home = await new_home(hass, freezer, black_video, at("21:00"))
    response = await _call(hass, "probe_camera", {"device_id": home.device_id})
    assert response["ok"] is False
    assert response["reason"] == "black"


async def test_probe_camera_reports_a_missing_camera(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    home = await new_home(hass, freezer, tmp_path / "gone.mp4", at("21:00"))
    response = await _call(hass, "probe_camera", {"device_id": home.device_id})
    assert response["ok"] is False
    assert response["reason"] == "invalid_url"


async def test_test_camera_button_probes_without_showing_anything(
    hass: HomeAssistant, home: Home, night_staff: str
) -> None:
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": home.entity_id("test_camera")},
        blocking=True,
        context=Context(user_id=night_staff),
    )
    [probe] = [fact for fact in facts if fact.kind == "camera_probe"]
    assert probe.user_id == night_staff
    assert probe.data["ok"] is True
    assert home.state("test_camera").state != "unknown"


# --- skip_night: the attacks of the trust review ------------------------------------------


async def test_skip_night_far_ahead_is_refused_and_leaves_the_home_able_to_start(
    hass: HomeAssistant, home: Home
) -> None:
    """Attack (issue 18 item 4): 9999-12-31 was added to the state before an OverflowError, and
    after a schedule change the home failed its setup until `.storage` was edited by hand."""
    before = home.runtime.supervisor.to_dict()["skipped"]
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "skip_night", {"device_id": home.device_id, "date": "9999-12-31"})
    assert_translated(err.value, "night_too_far")
    assert err.value.translation_placeholders["last"] == "2027-01-15"
    assert home.runtime.supervisor.to_dict()["skipped"] == before
    # What failed the setup before: a schedule change, then Home Assistant restarting.
    hass.config_entries.async_update_entry(
        home.entry, options=dict(home.entry.options) | {CONF_TIMES: ["23:00", "03:00"]}
    )
    await hass.async_block_till_done()
    await home.restart(at("21:30"))
    assert home.entry.state is ConfigEntryState.LOADED
    assert home.next_supervision == iso_utc(at("23:00"))


async def test_a_home_poisoned_by_the_old_far_skip_starts_again(
    hass: HomeAssistant, home: Home, hass_storage: dict[str, Any]
) -> None:
    """A store an older version wrote with 9999-12-31 skipped no longer stops the home."""
    assert await hass.config_entries.async_unload(home.entry.entry_id)
    key = f"{DOMAIN}.{home.entry.entry_id}"
    hass_storage[key]["data"]["supervisor"]["skipped"] = ["9999-12-31"]
    hass.config_entries.async_update_entry(
        home.entry, options=dict(home.entry.options) | {CONF_TIMES: ["23:00", "03:00"]}
    )
    assert await hass.config_entries.async_setup(home.entry.entry_id)
    await hass.async_block_till_done()
    assert home.entry.state is ConfigEntryState.LOADED
    assert home.next_supervision == iso_utc(at("23:00"))


async def test_skip_night_a_year_ahead_is_allowed(hass: HomeAssistant, home: Home) -> None:
    await _call(hass, "skip_night", {"device_id": home.device_id, "date": "2027-01-15"})
    assert date(2027, 1, 15) in home.runtime.supervisor.skipped_nights
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "skip_night", {"device_id": home.device_id, "date": "2027-01-16"})
    assert_translated(err.value, "night_too_far")


# --- skip tonight: which night --------------------------------------------------------------


async def test_skip_tonight_pressed_before_noon_skips_the_coming_evening(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path, night_staff: str
) -> None:
    """Issue 20 item 2: pressed at 11:05 on 30 Nov it skipped the night that was ending."""
    home = await new_home(
        hass,
        freezer,
        night_video,
        at("10:50", date(2026, 11, 29)),
        **{CONF_TIMES: ["10:57", "12:27"]},
    )
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    await home.go(at("11:05", date(2026, 11, 29)))
    assert home.status == "due"  # the 10:57 slot of the ending night is open
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": home.entity_id("skip_tonight")},
        blocking=True,
        context=Context(user_id=home.operator_id),
    )
    skipped = [fact for fact in facts if fact.kind == "skipped"]
    assert {fact.data["night"] for fact in skipped} == {"2026-11-30"}
    assert home.runtime.supervisor.skipped_nights == {date(2026, 11, 30)}
    # The open slot is still owed, and the next check is the evening after the skipped one.
    assert home.status == "due"
    assert home.next_supervision == iso_utc(at("12:27", date(2026, 12, 1)))


# --- unskip_night ---------------------------------------------------------------------------


async def test_unskip_night_restores_the_night_and_is_logged(
    hass: HomeAssistant, home: Home, night_staff: str
) -> None:
    facts: list[AuditFact] = []
    home.runtime.async_add_audit_sink(facts.append)
    await _call(hass, "skip_night", {"device_id": home.device_id}, night_staff)
    assert home.status == "skipped"
    await _call(hass, "unskip_night", {"device_id": home.device_id}, night_staff)
    assert home.status == "waiting"
    [undone] = [fact for fact in facts if fact.kind == "unskipped"]
    assert undone.user_id == night_staff
    assert undone.data["night"] == str(NIGHT)
    await home.go(at("22:31"))
    assert home.status == "due"


async def test_unskip_after_the_first_slot_began_is_refused(
    hass: HomeAssistant, home: Home
) -> None:
    await _call(hass, "skip_night", {"device_id": home.device_id})
    await home.go(at("22:31"))
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "unskip_night", {"device_id": home.device_id, "date": str(NIGHT)})
    assert_translated(err.value, "night_begun")
    assert home.status == "skipped"


async def test_unskip_of_a_night_not_skipped_is_refused(hass: HomeAssistant, home: Home) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "unskip_night", {"device_id": home.device_id, "date": str(NIGHT)})
    assert_translated(err.value, "night_not_skipped")


# --- one probe per home at a time -----------------------------------------------------------


class ConnectionCounter:
    """A TCP relay in front of a real camera that counts the connections made to it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConnectionCounter:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_twenty_probes_at_once_open_one_camera_connection(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    """Attack (issue 18 item 1): 20 probes at once opened 20 camera connections.

    A real MJPEG camera (tests/media_sources.py) behind a counting TCP relay: every request
    while one probe runs waits for that probe's result.
    """
    with MjpegServer() as camera:
        async with ConnectionCounter(camera.port or 0) as counter:
            url = f"http://127.0.0.1:{counter.port}/video.mjpg"
            home = await new_home(hass, freezer, url, at("21:00"))
            facts: list[AuditFact] = []
            home.runtime.async_add_audit_sink(facts.append)
            counter.connections = 0
            results = await asyncio.gather(
                *(
                    _call(hass, "probe_camera", {"device_id": home.device_id}, home.operator_id)
                    for _ in range(20)
                )
            )
            assert counter.connections == 1
            assert len({(r["ok"], r["reason"], r["ms"]) for r in results}) == 1
            assert results[0]["ok"] is True
            # Every caller's request is logged; 19 of them shared the one probe.
            probes = [fact for fact in facts if fact.kind == "camera_probe"]
            assert len(probes) == 20
            assert sum(1 for fact in probes if fact.data.get("shared")) == 19
            # Once it is done, the next request probes the camera again.
            await _call(hass, "probe_camera", {"device_id": home.device_id}, home.operator_id)
            assert counter.connections == 2
            assert await hass.config_entries.async_unload(home.entry.entry_id)
