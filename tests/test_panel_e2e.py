"""The "Tillsyn" panel in a real browser against a real Home Assistant.

Home Assistant runs as a subprocess (as `scripts/demo` starts it) with the integration and
one home whose agreed time is the next minute, set up through the real config flow on a live
MJPEG camera (`simulators/camera.py`, served from this process). Headless
Chromium, driven by `tests/e2e/panel.mjs` through playwright-core, logs in on Home Assistant's
own login page. Screenshots go to `test-artifacts/` (gitignored).
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
import json
from pathlib import Path
import re
import shutil
import sys
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402

from simulators.camera import MjpegServer  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core"
SCRIPT = REPO / "tests" / "e2e" / "panel.mjs"
ARTIFACTS = REPO / "test-artifacts"
VIEW_SECONDS = 10
CAMERA_SIZE = (640, 480)
GUEST = ("nightguest", "Night guest")
SECOND_HOME = "Demo 1205"
# Due at the same minute too: the Swedish operator's look.
THIRD_HOME = "Demo 1207"
SCREENS = REPO / "docs" / "screens"
# The browser part: three logins, up to a minute for the slot to open, two looks.
BROWSER_TIMEOUT_S = 420.0
# The panel shows the bed sensor. This test runs no broker or hub (the MQTT path has its own
# tests), so its home's bed sensor is a template entity added to the demo's configuration.
BED = "binary_sensor.stand_in_bed"
STAND_IN_BED = """
template:
  - binary_sensor:
      - name: Stand-in bed
        unique_id: stand_in_bed
        device_class: occupancy
        state: "on"
"""


def require_browser() -> str:
    """Fail (never skip) with a clear message when the browser tooling is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if shutil.which("node") is None:
        missing.append("node (Node.js >= 20)")
    if not PLAYWRIGHT.exists():
        missing.append(f"{PLAYWRIGHT} (npm playwright-core)")
    if missing:
        pytest.fail(f"the panel's e2e test needs {', '.join(missing)}: run scripts/setup")
    return str(shutil.which("node"))


async def create_guest(ha: demo.HomeAssistant) -> demo.Account:
    """An ordinary user who operates no home."""
    account = demo.Account(GUEST[0], demo.new_password())
    created = await ha.ws("config/auth/create", name=GUEST[1], group_ids=[demo.USERS_GROUP])
    await ha.ws(
        "config/auth_provider/homeassistant/create",
        user_id=created["user"]["id"],
        username=account.username,
        password=account.password,
    )
    return account


async def add_home_due_next_minute(
    ha: demo.HomeAssistant,
    camera_url: str,
    operator_id: str,
    time_zone: str,
    *,
    name: str = demo.HOME_NAME,
    agreed: str | None = None,
) -> str:
    """Add a home through the config flow whose one agreed time is the next local minute.

    Returns that agreed time (`HH:MM`); give `agreed` for a second home due at the same time
    (without the bed sensor, which no two homes share).
    """
    second = agreed is not None
    if agreed is None:
        now = datetime.now(ZoneInfo(time_zone))
        # Far enough ahead that the flow surely ends before the slot opens.
        ahead = 2 if now.second >= 50 else 1
        agreed = (now.replace(second=0, microsecond=0) + timedelta(minutes=ahead)).strftime("%H:%M")
    answers: dict[str, dict[str, Any]] = {
        "camera": {"name": name, "stream_url": camera_url},
        "schedule": {
            "times": [agreed],
            "view_seconds": VIEW_SECONDS,
            "slot_minutes": 30,
            "follow_up_minutes": 20,
            "follow_ups": 1,
        },
        "equipment": {} if second else {"bed_entity": BED},
        "operators": {"operators": [operator_id]},
        "consent": {"consent": True},
    }
    result = await ha.request("POST", "/api/config/config_entries/flow", {"handler": demo.DOMAIN})
    while result.get("type") == "form":
        assert not result.get("errors"), result
        result = await ha.request(
            "POST",
            f"/api/config/config_entries/flow/{result['flow_id']}",
            answers[result["step_id"]],
        )
    assert result.get("type") == "create_entry", result
    return agreed


async def installer_walk(ha: demo.HomeAssistant, camera_url: str) -> dict[str, Any]:
    """Add a second home with every kind of bad input, through HA's REST config-flow API.

    The same steps HA's config-flow dialog posts (the dialog itself is not driven in Chromium
    here): a file path, the first home's camera written differently, impossible and overlapping
    times, the first home's bed sensor; each answer's error and named home or times are kept.
    """
    seen: dict[str, Any] = {}

    async def post(flow_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        return dict(await ha.request("POST", f"/api/config/config_entries/flow/{flow_id}", answer))

    result = await ha.request("POST", "/api/config/config_entries/flow", {"handler": demo.DOMAIN})
    flow = result["flow_id"]
    for case, url in (
        ("file", "/media/bedroom.mp4"),
        ("duplicate", camera_url.replace("://", "://someone:secret@").rstrip("/") + "/./"),
    ):
        result = await post(flow, {"name": "Lgh 0907", "stream_url": url})
        seen[case] = (result["step_id"], result["errors"], result["description_placeholders"])
    # Another camera (a query keeps it apart): the flow goes on to the agreed times.
    result = await post(flow, {"name": "Lgh 0907", "stream_url": f"{camera_url}?home=0907"})
    assert result["step_id"] == "schedule", result
    schedule = {"view_seconds": 30, "slot_minutes": 30, "follow_up_minutes": 20, "follow_ups": 1}
    for case, times in (
        ("impossible", ["22:30, 25:00"]),
        ("overlap", ["22:30 22:45"]),
        ("several", ["22:30, 1:30 och 04:30"]),
    ):
        result = await post(flow, schedule | {"times": times})
        seen[case] = (result["step_id"], result["errors"], result["description_placeholders"])
    result = await post(flow, {"bed_entity": BED, "shared_equipment": True})
    seen["shared_bed"] = (result["step_id"], result["errors"], result["description_placeholders"])
    await ha.request("DELETE", f"/api/config/config_entries/flow/{flow}")
    return seen


@pytest.fixture
def camera(socket_enabled: None) -> Iterator[MjpegServer]:
    """The home's camera: a live bedroom at night over HTTP, as the demo runs it."""
    with MjpegServer(live=True, size=CAMERA_SIZE) as server:
        yield server


@pytest.fixture
async def running_hass(
    tmp_path: Path, socket_enabled: None
) -> AsyncIterator[tuple[demo.Hass, int]]:
    """A real Home Assistant on a free port, stopped afterwards."""
    paths = demo.Paths(tmp_path / "config")
    paths.config.mkdir(parents=True)
    port = demo.free_port()
    demo.link_integration(paths.config)
    demo.write_configuration(paths.config)
    with (paths.config / "configuration.yaml").open("a") as configuration:
        configuration.write(STAND_IN_BED)
    demo.write_http_config(paths.config, port)
    hass = demo.Hass(paths)
    hass.start()
    try:
        yield hass, port
    finally:
        await asyncio.to_thread(hass.stop)


async def test_operator_supervises_in_the_panel_and_a_guest_sees_nothing(
    running_hass: tuple[demo.Hass, int],
    camera: MjpegServer,
) -> None:
    """Log in, see the home due, look, see the look stop, record not_visible, see follow-up."""
    node = require_browser()
    hass, port = running_hass
    paths = hass.paths
    assert hass.process is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        ha = demo.HomeAssistant(session, port)
        await ha.wait_for_api(hass.process)
        accounts: dict[str, demo.Account] = {}
        await demo.onboard(ha, paths, accounts)
        config = await demo.wait_until_running(ha)
        await demo.check_frontend_can_load(ha)
        operator_id = await demo.ensure_operator(ha, paths, accounts)
        guest = await create_guest(ha)
        zone = str(config["time_zone"])
        agreed = await add_home_due_next_minute(ha, camera.url, operator_id, zone)
        # A second home due at the same time: its look ends "needs help", an urgent visit.
        await add_home_due_next_minute(
            ha, f"{camera.url}?home=1205", operator_id, zone, name=SECOND_HOME, agreed=agreed
        )
        await add_home_due_next_minute(
            ha, f"{camera.url}?home=1207", operator_id, zone, name=THIRD_HOME, agreed=agreed
        )
        installer = await installer_walk(ha, camera.url)
        panels = await ha.ws("get_panels")
        await ha.close()
    # The demo's server language is English: the sidebar says so for every user.
    assert panels["trygghetskamera"]["title"] == "Supervision"
    # The installer's bad inputs, each refused on its own step with its own message.
    assert installer["file"][:2] == ("camera", {"stream_url": "local_file"})
    assert installer["duplicate"][:2] == ("camera", {"stream_url": "camera_in_use"})
    assert installer["duplicate"][2]["home"] == demo.HOME_NAME
    assert installer["impossible"][:2] == ("schedule", {"times": "impossible_time"})
    assert installer["impossible"][2]["time"] == "25:00"
    assert installer["overlap"][1] == {"times": "overlapping_slots"}
    assert (installer["overlap"][2]["first"], installer["overlap"][2]["second"]) == (
        "22:30",
        "22:45",
    )
    assert installer["several"][0] == "equipment"
    assert installer["shared_bed"][:2] == ("equipment", {"bed_entity": "bed_entity_shared"})
    assert installer["shared_bed"][2]["home"] == demo.HOME_NAME
    assert panels["trygghetskamera"]["require_admin"] is False

    ARTIFACTS.mkdir(exist_ok=True)
    operator = accounts["operator"]
    job = {
        "base": f"http://127.0.0.1:{port}",
        "operator": {"username": operator.username, "password": operator.password},
        "guest": {"username": guest.username, "password": guest.password},
        "artifacts": str(ARTIFACTS),
        "chromium": str(CHROMIUM),
        "viewSeconds": VIEW_SECONDS,
        "dueTimeoutMs": 150_000,
        "home": demo.HOME_NAME,
        "second": SECOND_HOME,
        "third": THIRD_HOME,
        "screens": str(SCREENS),
    }
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        json.dumps(job),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(BROWSER_TIMEOUT_S):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the browser did not finish within {BROWSER_TIMEOUT_S:.0f} s")
    text = out.decode()
    assert process.returncode == 0, f"{text}\n{err.decode()}\n{demo.tail(paths.log)}"
    steps = {line["step"]: line for line in map(json.loads, text.splitlines())}

    # Commissioning: what is missing, then the bed area dragged on the live picture and saved.
    commissioning = steps["commissioning"]
    assert "commissioning look with the staff" in commissioning["missing"]
    assert commissioning["modeBefore"] == "View: Full picture"
    assert commissioning["region"] == pytest.approx([0.3, 0.45, 0.95, 0.9], abs=0.02)
    assert commissioning["notice"].startswith("Bed area saved.")
    assert commissioning["modeAfter"] == "View: Full picture"
    assert steps["guest"]["homes"] == 0
    assert "inte operatör" in steps["guest"]["text"]
    assert demo.HOME_NAME in steps["due"]["text"]
    assert "Due now" in steps["due"]["text"]
    assert steps["live"]["changed"], "the live image never changed"
    assert steps["live"]["natural"] == list(CAMERA_SIZE)
    assert steps["live"]["countdown"].endswith("s left")
    assert VIEW_SECONDS - 2 <= steps["stopped"]["after"] <= VIEW_SECONDS + 5
    assert steps["stopped"]["countdown"] == "The view has ended."
    # "The view has ended" covers the picture only once it has.
    assert steps["live"]["note"] is False
    assert steps["stopped"]["note"] is True
    assert "Follow-up" in steps["follow_up"]["text"]
    assert "Not visible" in steps["follow_up"]["notice"]
    # The patrol's open visits: consent withdrawn made the pending follow-up a visit.
    visits = steps["visits"]
    assert visits["visitId"]
    assert "no consent" in visits["raised"]
    assert "nobody on the way yet" in visits["raised"]
    assert re.search(r"raised (just now|\d+ minutes? ago)", visits["raised"])
    assert "someone is on the way" in visits["acknowledged"]
    assert visits["ackNotice"].endswith("you are on your way.")
    assert visits["doneNotice"].startswith("Visit to")
    assert visits["finishLeft"] == 0
    # Urgent first: the second home's "needs help" above the consent visit raised before it.
    assert visits["order"] == [True, False], visits
    assert "needs help" in visits["urgent"], visits
    assert "Urgent" in visits["urgent"], visits
    assert "someone is on the way" in visits["urgent"], visits
    # The consent visit, done, stays until its check's window ends, and says so.
    assert "visit made; listed until the check it replaces ends at" in visits["doneText"], visits
    # ... and the home's card says the visit is made, with no second "Visit done".
    assert "Visit made (no consent)" in visits["homeCard"], visits
    assert visits["homeVisitDone"] == 0, visits
    # The note being typed survived the list being rebuilt, with the focus and the caret.
    note = steps["note"]
    assert note["rebuilt"] is True, note
    assert note["kept"] == "Asleep, well", note
    assert note["focusKey"] == f"note-{visits['visitId']}", note
    assert note["typed"] == "Asleep, all well", note
    for picture in ("panel-visits.png", "panel-visits-sv.png"):
        assert (SCREENS / picture).stat().st_size > 10_000, picture
    # Skip tonight: a confirmation naming the night, the night shown as skipped, then Undo.
    skip = steps["skip"]
    assert skip["offered"] == 1, skip
    assert re.match(r"Skip the night of (\d{1,2} \w{3}|\w{3} \d{1,2}) at ", skip["asked"]), skip
    assert skip["skipped"].startswith("the night of "), skip
    assert skip["undone"] is True, skip
    assert "supervised as agreed" in skip["notice"], skip
    # In Swedish, where the browser's language is Swedish (the operator's profile follows it).
    skip_sv = steps["skip_sv"]
    assert skip_sv["header"] == "Tillsyn", skip_sv
    assert skip_sv["asked"].startswith("Ställa in natten till "), skip_sv
    assert skip_sv["undoText"].startswith("Ångra inställd natt"), skip_sv
    assert "får tillsyn som avtalat" in skip_sv["notice"], skip_sv
    urgent_sv, done_sv = steps["visits_sv"]["texts"]
    assert "Brådskande" in urgent_sv, urgent_sv
    assert "behöver hjälp" in urgent_sv, urgent_sv
    assert "någon är på väg" in urgent_sv, urgent_sv
    assert "besöket är gjort; visas tills tillsynen det ersätter slutar" in done_sv, done_sv
    # The look itself in Swedish: the third home, due, looked at, "OK" recorded.
    look_sv = steps["look_sv"]
    assert "Dags nu" in look_sv["due"], look_sv
    assert "Starta tillsyn" in look_sv["due"], look_sv
    assert look_sv["title"] == f"Tillsyn: {THIRD_HOME}", look_sv
    assert look_sv["countdown"].endswith("s kvar"), look_sv
    assert look_sv["prompt"] == "Vad såg du?", look_sv
    assert look_sv["notice"] == f"{THIRD_HOME}: ”OK” registrerat.", look_sv
    assert re.search(r"Tittat \d\d[:.]\d\d, OK", look_sv["after"]), look_sv
