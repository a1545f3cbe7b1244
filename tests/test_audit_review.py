"""Access review (åtkomstkontroll) and the resident's extract.

The report's content is checked on a generated month of nights in a real audit log (two homes,
three operators, one of whom was an operator for ten days only); the actions and pages through
Home Assistant with a real home, a real look and real users.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
import shutil
from types import SimpleNamespace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera.audit import AuditLog
from custom_components.trygghetskamera.audit_review import EVENT_REVIEW_DONE
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.review import (
    Period,
    build_extract,
    build_review,
    review_csv,
    review_html,
)
from custom_components.trygghetskamera.supervision import Outcome

from .test_blueprints import SHIPPED, advance, idle, notifications, notify_action, use_blueprint
from .test_runtime import Home, at, new_home

MONTH = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def month_log(tmp_path: Path) -> Iterator[AuditLog]:
    """March 2026 in two homes: three looks a night each, and what stands out."""
    log = AuditLog(tmp_path / "a.db")
    log.start()

    def write(at: datetime, kind: str, entry: str, user: str | None, **data: Any) -> None:
        home = {"e1": "Lgh 1", "e2": "Lgh 2"}[entry]
        log.append(
            {
                "at": at,
                "kind": kind,
                "entry_id": entry,
                "home": home,
                "user_id": user,
                "user_name": {"anna": "Anna", "bo": "Bo", "cia": "Cia"}.get(user or ""),
                "data": data,
            }
        ).result()

    write(MONTH - 40 * DAY, "home_added", "e1", "admin", operators=["anna"])
    write(MONTH - 40 * DAY, "home_added", "e2", "admin", operators=["bo"])
    for day in range(31):
        night = MONTH + day * DAY
        if day == 10:
            write(night, "operators_changed", "e1", "admin", added=["cia"], removed=[])
        if day == 20:
            write(night, "operators_changed", "e1", "admin", added=[], removed=["cia"])
        for n, clock in enumerate((21, 24, 27)):
            slot = night + timedelta(hours=clock)
            for entry, user in (("e1", "anna"), ("e2", "bo")):
                started = slot + timedelta(minutes=2)
                seconds = 20.0
                if (day, n, entry) == (15, 1, "e1"):
                    started = slot + timedelta(minutes=27)  # near the end of a 30-minute slot
                if (day, n, entry) == (5, 2, "e2"):
                    seconds = 58.5  # the longest look of the month
                session = f"s-{day}-{n}-{entry}"
                write(
                    started,
                    "session_started",
                    entry,
                    user,
                    slot=slot.isoformat(),
                    session_id=session,
                    purpose="supervision",
                )
                write(
                    started + timedelta(seconds=seconds),
                    "session_ended",
                    entry,
                    user,
                    slot=slot.isoformat(),
                    session_id=session,
                    purpose="supervision",
                    duration_s=seconds,
                    outcome="ok",
                )
    write(
        MONTH + 3 * DAY,
        "session_ended",
        "e2",
        "bo",
        purpose="commissioning",
        duration_s=30.0,
        outcome="ok",
        session_id="c-1",
    )
    write(MONTH + 4 * DAY, "action_denied", "e1", "cia", action="visit_done", count=3)
    write(MONTH + 6 * DAY, "session_denied", "e2", "anna", reason="not_operator")
    write(MONTH + 8 * DAY, "consent_changed", "e2", "bo", consent=False)
    write(MONTH + 40 * DAY, "session_denied", "e2", "anna", reason="outside_slot")
    yield log
    log.stop()


def test_the_review_of_a_month_lists_looks_per_operator_and_home(month_log: AuditLog) -> None:
    period = Period(MONTH, MONTH + 31 * DAY)
    review = build_review(month_log.query(end=period.end), period, slot_minutes={})

    looks = {(row["user_name"], row["home"]): row for row in review["looks"]}
    # The last night's looks after midnight fall in April: 31 + 30 + 30 in March.
    assert looks[("Anna", "Lgh 1")]["count"] == 91
    assert looks[("Anna", "Lgh 1")]["seconds_total"] == 91 * 20.0
    assert looks[("Bo", "Lgh 2")]["count"] == 92, "91 looks and one commissioning look"
    assert looks[("Bo", "Lgh 2")]["seconds_longest"] == 58.5
    assert review["looks_total"] == 183

    why = {(item["why"], item["user_name"], item["at"][:10]) for item in review["unusual"]}
    assert ("commissioning", "Bo", "2026-03-04") in why
    assert ("near_slot_end", "Anna", "2026-03-17") in why
    longest = [item for item in review["unusual"] if item["why"] == "longest"]
    assert longest[0]["duration_s"] == 58.5
    assert {item["why"] for item in review["unusual"]} == {
        "commissioning",
        "near_slot_end",
        "longest",
    }

    assert [(r["kind"], r["user_id"]) for r in review["refusals"]] == [
        ("action_denied", "cia"),
        ("session_denied", "anna"),
    ], "the refusal after the period is not in it"
    assert [(r["kind"], r["at"][:10]) for r in review["changes"]] == [
        ("consent_changed", "2026-03-09"),
        ("operators_changed", "2026-03-11"),
        ("operators_changed", "2026-03-21"),
    ], "in the order they happened"
    spans = {(s["home"], s["user_id"]): (s["from"][:10], s["to"][:10]) for s in review["operators"]}
    assert spans == {
        ("Lgh 1", "anna"): ("2026-03-01", "2026-04-01"),
        ("Lgh 1", "cia"): ("2026-03-11", "2026-03-21"),
        ("Lgh 2", "bo"): ("2026-03-01", "2026-04-01"),
    }


def test_the_review_narrows_to_one_operator_or_home(month_log: AuditLog) -> None:
    records = month_log.query()
    only_cia = build_review(
        records, Period(MONTH, MONTH + 31 * DAY, user_id="cia"), slot_minutes={}
    )
    assert only_cia["looks"] == []
    assert [r["kind"] for r in only_cia["refusals"]] == ["action_denied"]
    assert [s["user_id"] for s in only_cia["operators"]] == ["cia"]
    home_two = build_review(
        records, Period(MONTH, MONTH + 31 * DAY, entry_id="e2"), slot_minutes={}
    )
    assert {row["home"] for row in home_two["looks"]} == {"Lgh 2"}
    assert {s["home"] for s in home_two["operators"]} == {"Lgh 2"}


def test_the_printable_review_and_its_csv_escape_what_they_show(month_log: AuditLog) -> None:
    month_log.append(
        {
            "kind": "action_denied",
            "at": MONTH + DAY,
            "entry_id": "e1",
            "user_name": "<script>alert(1)</script>",
            "user_id": "=HYPERLINK(1)",
            "data": {},
        }
    ).result()
    period = Period(MONTH, MONTH + 31 * DAY)
    review = build_review(month_log.query(end=period.end), period, slot_minutes={})
    page = review_html(review, verified=True, language="sv")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Åtkomstkontroll" in page
    assert "Tittar som sticker ut" in page
    assert "LOGGEN STÄMMER INTE" in review_html(review, verified=False, language="sv")
    assert "Access review" in review_html(review, verified=True, language="en")
    text = review_csv(review)
    assert ",'=HYPERLINK(1)," in text
    assert "\n=" not in text


def test_the_residents_extract_is_one_homes_records_in_words(month_log: AuditLog) -> None:
    night = MONTH + 5 * DAY
    period = Period(night + timedelta(hours=20), night + timedelta(hours=30), entry_id="e2")
    rows = build_extract(month_log.query(), period)
    ended = [row for row in rows if row["what"] == "session_ended"]
    assert [row["who"] for row in ended] == ["Bo", "Bo", "Bo"]
    assert sorted(row["seconds"] for row in ended) == [20.0, 20.0, 58.5]
    assert {row["outcome"] for row in ended} == {"ok"}


# --- through Home Assistant --------------------------------------------------------------------


@pytest.fixture
async def home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path, hass_owner_user: User
) -> Home:
    # The owner exists first: the first user created otherwise becomes the owner (an admin).
    home = await new_home(hass, freezer, night_video, at("21:00"))
    await home.go(at("22:31"))
    await home.look(Outcome.OK, seconds=25)
    return home


async def call(hass: HomeAssistant, service: str, user: User | None, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        service,
        data,
        blocking=True,
        return_response=service == "access_review",
        context=Context(user.id if user else None),
    )


async def test_access_review_action_for_admins_only(
    hass: HomeAssistant, home: Home, hass_admin_user: User
) -> None:
    start, end = at("21:00").isoformat(), at("23:00").isoformat()
    review = await call(hass, "access_review", hass_admin_user, start=start, end=end)
    (row,) = review["looks"]
    assert row["user_id"] == home.operator_id
    assert row["count"] == 1
    assert row["seconds_total"] == 25.0
    assert review["verified"] is True
    assert [s["user_id"] for s in review["operators"]] == [home.operator_id]

    operator = await hass.auth.async_get_user(home.operator_id)
    for who in (operator, None):
        with pytest.raises(Unauthorized):
            await call(hass, "access_review", who, start=start, end=end)
    log = hass.data[AUDIT_TRAIL].log
    denied = await hass.async_add_executor_job(lambda: log.query(kinds=("action_denied",)))
    assert {record.data.get("action") for record in denied} == {"access_review"}


async def test_review_done_is_a_record_and_an_event(
    hass: HomeAssistant, home: Home, hass_admin_user: User
) -> None:
    events = async_capture_events(hass, f"{DOMAIN}_review_done")
    await call(
        hass,
        "review_done",
        hass_admin_user,
        start=at("21:00").isoformat(),
        end=at("23:00").isoformat(),
        device_id=home.device_id,
        remark="Inga avvikelser.",
    )
    log = hass.data[AUDIT_TRAIL].log
    (record,) = await hass.async_add_executor_job(lambda: log.query(kinds=("review_done",)))
    assert record.user_id == hass_admin_user.id
    assert record.data["remark"] == "Inga avvikelser."
    assert record.data["entry_id"] == home.entry.entry_id
    assert len(events) == 1
    review = await call(
        hass,
        "access_review",
        hass_admin_user,
        start=at("21:00").isoformat(),
        end=(at("23:00") + DAY).isoformat(),
    )
    assert [r["data"]["remark"] for r in review["reviews"]] == ["Inga avvikelser."]


async def test_review_pages_and_the_extract_for_admins(
    hass: HomeAssistant,
    home: Home,
    hass_client: ClientSessionGenerator,
) -> None:
    admin = await hass_client()
    query = f"start={at('21:00').isoformat()}&end={at('23:00').isoformat()}".replace("+", "%2B")
    page = await admin.get(f"/api/{DOMAIN}/review.html?{query}")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Nattpersonal" in await page.text()
    sheet = await admin.get(f"/api/{DOMAIN}/review.csv?{query}")
    assert sheet.status == 200
    assert "looks" in await sheet.text()
    extract = await admin.get(f"/api/{DOMAIN}/extract.csv?{query}&entry_id={home.entry.entry_id}")
    assert extract.status == 200
    rows = (await extract.text()).splitlines()
    assert rows[0] == "at,who,what,seconds,outcome"
    assert any(",Nattpersonal,session_ended,25.0,ok" in row for row in rows)
    assert (await admin.get(f"/api/{DOMAIN}/extract.html?{query}")).status == 400
    page = await admin.get(f"/api/{DOMAIN}/extract.html?{query}&entry_id={home.entry.entry_id}")
    assert "session_ended" in await page.text()

    operator = await hass.auth.async_get_user(home.operator_id)
    assert operator is not None
    refresh = await hass.auth.async_create_refresh_token(operator, "https://nattpatrull.example/")
    staff = await hass_client(hass.auth.async_create_access_token(refresh))
    for path in ("review.html", "review.csv", "extract.html", "extract.csv"):
        assert (await staff.get(f"/api/{DOMAIN}/{path}?{query}")).status == 403


# --- the monthly reminder blueprint ------------------------------------------------------------


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the time trigger's next day
async def test_the_monthly_reminder_repeats_daily_until_the_review_is_done(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_owner_user: User,
    hass_admin_user: User,
) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to("2026-02-28T12:00:00+01:00")
    shutil.copytree(SHIPPED, Path(hass.config.path("blueprints", "automation", DOMAIN)))
    assert await async_setup_component(hass, DOMAIN, {})
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass,
        "access_review_reminder.yaml",
        {"notify": notify_action("review-{{ now().day }}"), "day": 1},
    )
    clock = SimpleNamespace(hass=hass, freezer=freezer)
    listeners = hass.bus.async_listeners().get(EVENT_REVIEW_DONE, 0)

    def waiting() -> bool:
        return hass.bus.async_listeners().get(EVENT_REVIEW_DONE, 0) == listeners + 1

    await advance(clock, datetime.fromisoformat("2026-02-28T09:00:00+01:00") + DAY, waiting)
    shown = notifications(hass)
    assert list(shown) == ["review-1"]
    assert "2026-02" in shown["review-1"]
    await advance(
        clock,
        datetime.fromisoformat("2026-03-02T09:00:00+01:00"),
        lambda: "review-2" in notifications(hass) and waiting(),
    )
    await call(
        hass,
        "review_done",
        hass_admin_user,
        start="2026-02-01T00:00:00+01:00",
        end="2026-03-01T00:00:00+01:00",
        remark="Granskad.",
    )
    await advance(
        clock,
        datetime.fromisoformat("2026-03-03T09:00:00+01:00"),
        idle(hass, "access_review_reminder"),
    )
    assert sorted(notifications(hass)) == ["review-1", "review-2"]
