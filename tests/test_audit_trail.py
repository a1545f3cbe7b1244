"""The audit log inside Home Assistant: who may read it, tamper detection, export, retention."""

from contextlib import closing
import csv
from datetime import timedelta
import io
from pathlib import Path
import sqlite3

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera.audit_trail import AUDIT_FILE, AUDIT_TRAIL
from custom_components.trygghetskamera.const import CONF_AUDIT_RETENTION_MONTHS, DOMAIN

from .conftest import make_home_entry


@pytest.fixture
async def operator(hass: HomeAssistant, hass_owner_user: User) -> User:
    # The owner exists first: the first user created otherwise becomes the owner (an admin).
    return await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])


async def add_home(
    hass: HomeAssistant, url: str, operators: list[str], **options: object
) -> MockConfigEntry:
    entry = make_home_entry(url, operators, **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    return device.id


async def read_log(hass: HomeAssistant, user: User, **data: object) -> dict:
    return await hass.services.async_call(
        DOMAIN, "audit_log", data, blocking=True, return_response=True, context=Context(user.id)
    )


async def test_operators_read_their_homes_and_admins_all(
    hass: HomeAssistant, night_video: Path, black_video: Path, operator: User, hass_admin_user: User
) -> None:
    mine = await add_home(hass, str(night_video), [operator.id])
    other = await add_home(hass, str(black_video), [hass_admin_user.id])
    await mine.runtime_data.async_skip_night(mine.runtime_data.tonight(), operator.id)
    await other.runtime_data.async_set_consent(False, hass_admin_user.id)

    own = await read_log(hass, operator)
    assert own["verified"] is True
    assert {record["entry_id"] for record in own["records"]} == {mine.entry_id}
    skipped = [record for record in own["records"] if record["kind"] == "skipped"]
    assert skipped
    assert skipped[0]["user_id"] == operator.id
    assert skipped[0]["user_name"] == "Nattpersonal"

    everything = await read_log(hass, hass_admin_user)
    assert {record["entry_id"] for record in everything["records"]} == {
        mine.entry_id,
        other.entry_id,
    }
    one = await read_log(hass, hass_admin_user, device_id=device_id(hass, other))
    assert {record["entry_id"] for record in one["records"]} == {other.entry_id}
    assert "consent_changed" in {record["kind"] for record in one["records"]}

    # An operator asking for another home's records gets nothing.
    with pytest.raises(Unauthorized):
        await read_log(hass, operator, device_id=device_id(hass, other))


async def test_staff_without_homes_and_automations_cannot_read(
    hass: HomeAssistant, night_video: Path, operator: User
) -> None:
    await add_home(hass, str(night_video), [operator.id])
    stranger = await hass.auth.async_create_user("Annan", group_ids=["system-users"])
    with pytest.raises(Unauthorized):
        await read_log(hass, stranger)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(DOMAIN, "audit_log", {}, blocking=True, return_response=True)


async def test_time_range_and_bad_range(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User
) -> None:
    await add_home(hass, str(night_video), [hass_admin_user.id])
    now = dt_util.utcnow()
    inside = await read_log(
        hass, hass_admin_user, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
    )
    assert inside["records"]
    before = await read_log(hass, hass_admin_user, end=now - timedelta(hours=1))
    assert before["records"] == []
    with pytest.raises(ServiceValidationError) as raised:
        await read_log(hass, hass_admin_user, start=now, end=now - timedelta(hours=1))
    assert raised.value.translation_key == "end_before_start"


async def test_edited_record_is_detected(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User
) -> None:
    entry = await add_home(hass, str(night_video), [hass_admin_user.id])
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), hass_admin_user.id)
    assert (await read_log(hass, hass_admin_user))["verified"] is True

    # Someone with access to the file rewrites who skipped the night.
    path = Path(hass.config.path(".storage", AUDIT_FILE))
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_no_update")
        conn.execute("UPDATE records SET user_name = 'Någon annan' WHERE kind = 'skipped'")
        conn.commit()
    assert (await read_log(hass, hass_admin_user))["verified"] is False


async def test_csv_export_for_admins_only(
    hass: HomeAssistant,
    night_video: Path,
    operator: User,
    hass_admin_user: User,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = await add_home(hass, str(night_video), [operator.id])
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), operator.id)

    admin = await hass_client()
    response = await admin.get(f"/api/{DOMAIN}/audit.csv")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert any(row["kind"] == "skipped" and row["user_name"] == "Nattpersonal" for row in rows)
    assert (await admin.get(f"/api/{DOMAIN}/audit.csv?start=yesterday")).status == 400

    refresh = await hass.auth.async_create_refresh_token(operator, "https://nattpatrull.example/")
    staff = await hass_client(hass.auth.async_create_access_token(refresh))
    assert (await staff.get(f"/api/{DOMAIN}/audit.csv")).status == 403

    kinds = [
        record.kind
        for record in await hass.async_add_executor_job(hass.data[AUDIT_TRAIL].log.query)
    ]
    assert "exported" in kinds
    assert "export_denied" in kinds


async def test_daily_purge_keeps_the_chain_verifiable(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to("2026-01-10T09:00:00+01:00")
    entry = await add_home(
        hass, str(night_video), [hass_admin_user.id], **{CONF_AUDIT_RETENTION_MONTHS: 1}
    )
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), hass_admin_user.id)
    log = hass.data[AUDIT_TRAIL].log
    old = len(await hass.async_add_executor_job(log.query))
    assert old > 0

    # Six weeks later, at the daily purge time, what is older than a month goes.
    freezer.move_to("2026-02-21T12:15:00+01:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    records = await hass.async_add_executor_job(log.query)
    purges = [record for record in records if record.kind == "purge"]
    assert len(purges) == 1
    assert purges[0].data["removed"] >= old
    assert await hass.async_add_executor_job(log.verify) is True
