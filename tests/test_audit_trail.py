"""The audit log inside Home Assistant: who may read it, tamper detection, export, retention."""

import asyncio
from contextlib import closing
import csv
from datetime import timedelta
import io
import json
from pathlib import Path
import sqlite3
import sys

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera import verify_audit
from custom_components.trygghetskamera.audit_trail import (
    AUDIT_FILE,
    AUDIT_TRAIL,
    HEAD_LOST_ISSUE,
    HEAD_LOST_KIND,
    HEAD_STORE_KEY,
    REANCHORED_KIND,
    AuditTrail,
)
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
    # The daily job runs as a background task.
    await hass.async_block_till_done(wait_background_tasks=True)
    records = await hass.async_add_executor_job(log.query)
    purges = [record for record in records if record.kind == "purge"]
    assert len(purges) == 1
    (section,) = purges[0].data["homes"].values()
    assert section["removed"] >= old - 1, "all but the home's retention record"
    assert section["retention_days"] == 30
    # The daily run seals the log right after its purge.
    after = [record.kind for record in records if record.seq > purges[0].seq]
    assert "seal" in after
    assert (await read_log(hass, hass_admin_user))["verified"] is True


# --- the head kept outside the log, seals, exports an auditor checks -----------------------------


def log_file(hass: HomeAssistant) -> Path:
    return Path(hass.config.path(".storage", AUDIT_FILE))


async def seal(hass: HomeAssistant, user: User) -> dict:
    return await hass.services.async_call(
        DOMAIN, "audit_seal", {}, blocking=True, return_response=True, context=Context(user.id)
    )


async def test_cutting_the_newest_records_is_caught_by_the_kept_head(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    hass_storage: dict,
    freezer: FrozenDateTimeFactory,
) -> None:
    """As the forger: delete the 3 newest records and set SQLite's counter back to match."""
    entry = await add_home(hass, str(night_video), [hass_admin_user.id])
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), hass_admin_user.id)
    trail = hass.data[AUDIT_TRAIL]
    head = await hass.async_add_executor_job(trail.log.head)
    assert trail.kept() == head
    assert (await read_log(hass, hass_admin_user))["verified"] is True

    with closing(sqlite3.connect(log_file(hass))) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_no_delete")
        conn.execute("DELETE FROM records WHERE seq > (SELECT MAX(seq) - 3 FROM records)")
        conn.execute("UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM records)")
        conn.commit()

    assert await hass.async_add_executor_job(trail.log.verify), "the chain alone looks whole"
    assert (await read_log(hass, hass_admin_user))["verified"] is False
    # The kept head lives in the integration's own storage file, outside the database.
    freezer.tick(5)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass_storage[HEAD_STORE_KEY]["data"]["seq"] == head[0]


async def test_audit_seal_returns_the_head_to_keep_admins_only(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User, operator: User
) -> None:
    await add_home(hass, str(night_video), [operator.id])
    answer = await seal(hass, hass_admin_user)
    assert set(answer) == {"seq", "hash", "at"}
    trail = hass.data[AUDIT_TRAIL]
    (record,) = await hass.async_add_executor_job(lambda: trail.log.query(kinds=("seal",)))
    assert (record.seq, record.hash) == (answer["seq"], answer["hash"])
    assert trail.kept() == (answer["seq"], answer["hash"])
    assert await hass.async_add_executor_job(
        lambda: trail.log.verify(head=(answer["seq"], answer["hash"]))
    )
    with pytest.raises(Unauthorized):
        await seal(hass, operator)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN, "audit_seal", {}, blocking=True, return_response=True
        )


async def test_a_night_report_is_followed_by_a_seal(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User
) -> None:
    entry = await add_home(hass, str(night_video), [hass_admin_user.id])
    trail = hass.data[AUDIT_TRAIL]
    await trail.async_append(
        "night_report",
        at=dt_util.utcnow(),
        entry_id=entry.entry_id,
        home="Lgh 1203",
        user_id=None,
        data={"night": "2026-01-15", "slots": []},
    )
    records = await hass.async_add_executor_job(trail.log.query)
    assert [record.kind for record in records[-2:]] == ["night_report", "seal"]
    assert records[-1].data == {"seq": records[-2].seq, "hash": records[-2].hash}


async def test_a_real_export_verifies_with_the_standalone_verifier(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    # A user whose name is a spreadsheet formula: the CSV must not hand it to Excel as one.
    evil = await hass.auth.async_create_user("=cmd|' /C calc'!A0", group_ids=["system-users"])
    entry = await add_home(hass, str(night_video), [evil.id])
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), evil.id)
    await entry.runtime_data.async_visit_done(evil.id, "/9j/4AAQSkZJRg")
    head = await seal(hass, hass_admin_user)

    admin = await hass_client()
    for form in ("jsonl", "csv"):
        response = await admin.get(f"/api/{DOMAIN}/audit.{form}")
        assert response.status == 200
        export = tmp_path / f"export.{form}"
        export.write_bytes(await response.read())
        done = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            verify_audit.__file__,
            str(export),
            "--head",
            f"{head['seq']}:{head['hash']}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await done.communicate())[0].decode()
        assert done.returncode == 0, output
        assert output.startswith("ok")
        if form == "csv":
            assert "'=cmd|" in export.read_text(encoding="utf-8")
            export.write_text(
                export.read_text(encoding="utf-8").replace("=cmd|", "=cmd!"), encoding="utf-8"
            )
            done = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                verify_audit.__file__,
                str(export),
                stdout=asyncio.subprocess.PIPE,
            )
            assert (await done.communicate())[0].startswith(b"seq ")
            assert done.returncode == 1


async def test_a_removed_home_keeps_its_log_until_its_retention_ends(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to("2026-01-10T09:00:00+01:00")
    gone = await add_home(
        hass, str(night_video), [hass_admin_user.id], **{CONF_AUDIT_RETENTION_MONTHS: 2}
    )
    await gone.runtime_data.async_skip_night(gone.runtime_data.tonight(), hass_admin_user.id)
    assert await hass.config_entries.async_remove(gone.entry_id)
    await hass.async_block_till_done()
    trail = hass.data[AUDIT_TRAIL]

    def facts_of_gone() -> list[str]:
        return [
            record.kind
            for record in trail.log.query(entry_id=gone.entry_id)
            if record.kind not in {"retention_set", "home_closed"}
        ]

    assert "home_removed" in await hass.async_add_executor_job(facts_of_gone)
    # A month later the log is still there (the default: kept until retention ends)...
    freezer.move_to("2026-02-10T12:15:00+01:00")
    async_fire_time_changed(hass)
    # The daily job runs as a background task.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "skipped" in await hass.async_add_executor_job(facts_of_gone)
    # ...and after the two months it had, purged: the home is gone but its retention is not.
    freezer.move_to("2026-03-15T12:15:00+01:00")
    async_fire_time_changed(hass)
    # The daily job runs as a background task.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.async_add_executor_job(facts_of_gone) == []
    (purge,) = await hass.async_add_executor_job(lambda: trail.log.query(kinds=("purge",)))
    assert purge.data["homes"][gone.entry_id]["retention_days"] == 61
    assert (await read_log(hass, hass_admin_user))["verified"] is True


async def test_export_and_delete_of_a_removed_homes_log(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    operator: User,
    hass_client: ClientSessionGenerator,
) -> None:
    gone = await add_home(hass, str(night_video), [operator.id])
    await gone.runtime_data.async_skip_night(gone.runtime_data.tonight(), operator.id)

    async def delete(user: User) -> dict:
        return await hass.services.async_call(
            DOMAIN,
            "audit_delete_home",
            {"entry_id": gone.entry_id},
            blocking=True,
            return_response=True,
            context=Context(user.id),
        )

    with pytest.raises(ServiceValidationError) as raised:
        await delete(hass_admin_user)
    assert raised.value.translation_key == "home_not_removed"
    assert await hass.config_entries.async_remove(gone.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as raised:
        await delete(hass_admin_user)
    assert raised.value.translation_key == "not_exported"
    with pytest.raises(Unauthorized):
        await delete(operator)

    admin = await hass_client()
    response = await admin.get(f"/api/{DOMAIN}/audit.jsonl?entry_id={gone.entry_id}")
    assert response.status == 200
    exported = [json.loads(line) for line in (await response.text()).splitlines()]
    assert "skipped" in {row.get("kind") for row in exported}

    answer = await delete(hass_admin_user)
    assert answer["removed"] > 0
    trail = hass.data[AUDIT_TRAIL]
    left = await hass.async_add_executor_job(lambda: trail.log.query(entry_id=gone.entry_id))
    assert {record.kind for record in left} == {"retention_set", "home_closed"}
    (purge,) = await hass.async_add_executor_job(lambda: trail.log.query(kinds=("purge",)))
    assert purge.user_id == hass_admin_user.id
    assert purge.data["homes"][gone.entry_id]["deleted_after_removal"] is True
    assert (await read_log(hass, hass_admin_user))["verified"] is True


async def test_a_log_restored_from_an_older_backup_stays_unverified_until_re_anchored(
    hass: HomeAssistant,
    night_video: Path,
    hass_admin_user: User,
    hass_client: ClientSessionGenerator,
) -> None:
    """As the forger with the machine stopped: yesterday's database is put back, so the records
    written since (a skipped night, here) are gone, and Home Assistant starts again.

    The log then grows past the kept head's seq on the old chain; the kept head must not simply
    move on, or the log would verify again. Only the audit trail restarts (its log closed and a
    new `AuditTrail` opened on the same files, as `async_setup` does); the SQLite database, its
    writer thread, the head store, the repair issue and HA's repairs flow over HTTP are real.
    """
    assert await async_setup_component(hass, "repairs", {})
    entry = await add_home(hass, str(night_video), [hass_admin_user.id])
    trail = hass.data[AUDIT_TRAIL]
    path = log_file(hass)
    backup = path.with_name("backup.db")

    def take_backup() -> None:
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(backup)) as copy:
            source.backup(copy)

    await trail.async_seal()
    await hass.async_add_executor_job(take_backup)
    await entry.runtime_data.async_skip_night(entry.runtime_data.tonight(), hass_admin_user.id)
    lost = await trail.async_seal()
    assert (await read_log(hass, hass_admin_user))["verified"] is True

    # Home Assistant stops; the database is replaced by the backup; it starts again.
    await hass.async_add_executor_job(trail.log.stop)

    def put_back() -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        backup.replace(path)

    await hass.async_add_executor_job(put_back)
    restarted = AuditTrail(hass, path)
    await restarted.async_start()
    hass.data[AUDIT_TRAIL] = restarted

    # The old chain grows past the lost head's seq.
    for _ in range(10):
        await restarted.async_append(
            "probe", at=dt_util.utcnow(), entry_id=None, home=None, user_id=None, data={}
        )
    newest = await hass.async_add_executor_job(restarted.log.head)
    assert newest is not None
    assert newest[0] > lost["seq"]
    assert (await read_log(hass, hass_admin_user))["verified"] is False
    assert restarted.kept() == (lost["seq"], lost["hash"]), "the kept head stays where it was"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, HEAD_LOST_ISSUE)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.CRITICAL
    assert issue.is_fixable
    assert issue.translation_placeholders["kept_seq"] == str(lost["seq"])
    records = (await read_log(hass, hass_admin_user))["records"]
    found = [r for r in records if r["kind"] == HEAD_LOST_KIND]
    assert len(found) == 1
    assert found[0]["data"]["kept_head"]["hash"] == lost["hash"]

    # An administrator re-anchors it through the repair, with a note of the incident.
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": HEAD_LOST_ISSUE}
    )
    assert response.status == 200, await response.text()
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["kept_seq"] == str(lost["seq"])
    too_short = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"incident": "  ok  "}
    )
    assert (await too_short.json())["errors"] == {"incident": "incident_too_short"}
    note = "Disk replaced 30 Nov by IT (ticket 4711); database restored from the 29 Nov backup."
    done = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={"incident": note})
    assert (await done.json())["type"] == "create_entry"

    assert ir.async_get(hass).async_get_issue(DOMAIN, HEAD_LOST_ISSUE) is None
    answer = await read_log(hass, hass_admin_user)
    assert answer["verified"] is True
    re_anchored = [r for r in answer["records"] if r["kind"] == REANCHORED_KIND]
    assert len(re_anchored) == 1
    assert re_anchored[0]["user_id"] == hass_admin_user.id
    assert re_anchored[0]["data"]["incident"] == note
    assert re_anchored[0]["data"]["kept_head"]["seq"] == lost["seq"]
    assert restarted.kept() == await hass.async_add_executor_job(restarted.log.head)
