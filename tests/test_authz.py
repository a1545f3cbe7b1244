"""Who may do what to a home, tried by everyone against every action, button, switch and command.

Written as the attackers of the trust review (issue 18): a logged-in user who operates no home,
an operator of another home, an admin who is no operator, an automation (a call without a user),
and the home's own operator. Every call goes through the real harness (actions, entity services,
websocket commands with real logins), and every refusal must leave an `action_denied` record.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
import pytest
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.trygghetskamera.audit import AuditLog, AuditRecord
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.authz import ALLOWED, Action, Role, may
from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.gate import GateRefusal
from custom_components.trygghetskamera.supervision import Purpose

from .conftest import CLIENT_ID, Person, make_home_entry
from .test_runtime import NIGHT, Home, at

ROLES = ("stranger", "other_operator", "operator", "admin", "automation")
TOMORROW = NIGHT + timedelta(days=1)


@dataclass
class World:
    """Two homes, and a person (or an automation) for each role towards the first home."""

    hass: HomeAssistant
    home: Home
    other_entry_id: str
    people: dict[str, Person]
    hass_ws_client: WebSocketGenerator

    def user_id(self, role: str) -> str | None:
        return None if role == "automation" else self.people[role].user.id

    def context(self, role: str) -> Context:
        return Context(user_id=self.user_id(role))

    async def ws(self, role: str) -> Any:
        """A websocket client logged in as the role's user now (access tokens expire)."""
        user = self.people[role].user
        refresh = await self.hass.auth.async_create_refresh_token(user, CLIENT_ID)
        return await self.hass_ws_client(
            self.hass, self.hass.auth.async_create_access_token(refresh)
        )


@pytest.fixture
async def world(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    tmp_path: Path,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
) -> World:
    """Home "Lgh 1203" and another home, each with its own operator, set up at 21:00."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(at("21:00"))
    people = {
        "stranger": await make_person("Obehörig"),
        "other_operator": await make_person("Grannens nattpersonal"),
        "operator": await make_person("Nattpersonal"),
        "admin": await make_person("Admin", admin=True),
    }
    entry = make_home_entry(str(night_video), [people["operator"].user.id])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    other_video = tmp_path / "other.mp4"
    shutil.copy(night_video, other_video)
    other = make_home_entry(str(other_video), [people["other_operator"].user.id])
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    home = Home(hass, freezer, entry)
    await home.go(at("22:35"))
    return World(hass, home, other.entry_id, people, hass_ws_client)


async def records(hass: HomeAssistant, entry_id: str | None, kind: str) -> list[AuditRecord]:
    """The committed audit records of one kind for a home."""
    log = hass.data[AUDIT_TRAIL].log
    found = await hass.async_add_executor_job(lambda: log.query(entry_id=entry_id))
    return [record for record in found if record.kind == kind]


async def call_action(world: World, role: str, service: str, data: dict[str, Any]) -> Any:
    return await world.hass.services.async_call(
        DOMAIN,
        service,
        {"device_id": world.home.device_id} | data,
        blocking=True,
        context=world.context(role),
        return_response=service in ("probe_camera", "audit_log"),
    )


async def press(world: World, role: str, key: str) -> None:
    await world.hass.services.async_call(
        "button",
        "press",
        {"entity_id": world.home.entity_id(key)},
        blocking=True,
        context=world.context(role),
    )


async def switch(world: World, role: str, service: str) -> None:
    await world.hass.services.async_call(
        "switch",
        service,
        {"entity_id": world.home.entity_id("consent")},
        blocking=True,
        context=world.context(role),
    )


@dataclass(frozen=True)
class Edge:
    """One way to act on the home: how to prepare, call, and see that it took effect."""

    action: str
    allowed: frozenset[str]
    call: Callable[[World, str], Awaitable[Any]]
    # What the action changes, observed before and after the call (it must change only then).
    observe: Callable[[World, str], Awaitable[object]]
    prepare: Callable[[World], Awaitable[None]] | None = None
    refusal: type[Exception] = Unauthorized


async def _missed_visit(world: World) -> None:
    await world.home.go(at("23:01"))
    assert world.home.runtime.supervisor.visit_required


async def _skip_tomorrow(world: World) -> None:
    await world.home.runtime.async_skip_night(TOMORROW, None)


async def _withdraw(world: World) -> None:
    await world.home.runtime.async_set_consent(False, None)


def _check(test: Callable[[World], bool]) -> Callable[[World, str], Awaitable[object]]:
    async def observe(world: World, role: str) -> object:
        return test(world)

    return observe


async def _probes_by_caller(world: World, role: str) -> int:
    probes = await records(world.hass, world.home.entry.entry_id, "camera_probe")
    return sum(1 for record in probes if record.user_id == world.user_id(role))


async def _nothing(world: World, role: str) -> None:
    """Reading the log changes nothing; its response is checked instead."""


STAFF = frozenset({"operator", "admin", "automation"})

EDGES: dict[str, Edge] = {
    "visit_done": Edge(
        "visit_done",
        STAFF,
        lambda world, role: call_action(world, role, "visit_done", {}),
        _check(lambda world: not world.home.runtime.supervisor.visit_required),
        _missed_visit,
    ),
    "skip_night": Edge(
        "skip_night",
        STAFF,
        lambda world, role: call_action(world, role, "skip_night", {"date": str(TOMORROW)}),
        _check(lambda world: TOMORROW in world.home.runtime.supervisor.skipped_nights),
    ),
    "unskip_night": Edge(
        "unskip_night",
        STAFF,
        lambda world, role: call_action(world, role, "unskip_night", {"date": str(TOMORROW)}),
        _check(lambda world: TOMORROW not in world.home.runtime.supervisor.skipped_nights),
        _skip_tomorrow,
    ),
    "probe_camera": Edge(
        "probe_camera",
        STAFF,
        lambda world, role: call_action(world, role, "probe_camera", {}),
        _probes_by_caller,
    ),
    "audit_log": Edge(
        "audit_log",
        frozenset({"operator", "admin"}),
        lambda world, role: call_action(world, role, "audit_log", {}),
        _nothing,
    ),
    "skip_tonight": Edge(
        "skip_tonight",
        STAFF,
        lambda world, role: press(world, role, "skip_tonight"),
        _check(lambda world: NIGHT in world.home.runtime.supervisor.skipped_nights),
    ),
    "test_camera": Edge(
        "test_camera",
        STAFF,
        lambda world, role: press(world, role, "test_camera"),
        _probes_by_caller,
    ),
    "consent_off": Edge(
        "consent_off",
        STAFF,
        lambda world, role: switch(world, role, "turn_off"),
        _check(lambda world: not world.home.runtime.supervisor.consent),
    ),
    "consent_on": Edge(
        "consent_on",
        frozenset(),
        lambda world, role: switch(world, role, "turn_on"),
        _check(lambda world: world.home.runtime.supervisor.consent),
        _withdraw,
        refusal=ServiceValidationError,
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("edge_name", list(EDGES))
async def test_every_role_against_every_action_button_and_switch(
    world: World, edge_name: str, role: str
) -> None:
    edge = EDGES[edge_name]
    hass = world.hass
    entry_id = world.home.entry.entry_id
    if edge.prepare is not None:
        await edge.prepare(world)
    before = await edge.observe(world, role)
    if role in edge.allowed:
        response = await edge.call(world, role)
        if edge.action == "audit_log":
            assert response["verified"] is True
            assert response["records"]
        else:
            assert await edge.observe(world, role) != before
        assert await records(hass, entry_id, "action_denied") == []
        return
    with pytest.raises(edge.refusal):
        await edge.call(world, role)
    assert await edge.observe(world, role) == before
    [denied] = await records(hass, entry_id, "action_denied")
    assert denied.user_id == world.user_id(role)
    assert denied.home == "Lgh 1203"
    assert denied.data["action"] == edge.action
    assert denied.data["count"] == 1


# --- websocket commands --------------------------------------------------------------------


@pytest.mark.parametrize("role", [role for role in ROLES if role != "automation"])
async def test_every_user_against_the_homes_list(world: World, role: str) -> None:
    """The list shows a home to its operators and to admins; nobody else sees it."""
    ws = await world.ws(role)
    await ws.send_json({"id": 1, "type": f"{DOMAIN}/homes"})
    reply = await ws.receive_json()
    assert reply["success"]
    listed = {home["entry_id"]: home for home in reply["result"]}
    this = world.home.entry.entry_id
    assert (this in listed) is (role in ("operator", "admin"))
    if this in listed:
        # Only the home's operator may look; an admin sees the home but not the picture.
        assert listed[this]["may_view"] is (role == "operator")
    assert (world.other_entry_id in listed) is (role in ("other_operator", "admin"))


@pytest.mark.parametrize("role", [role for role in ROLES if role != "automation"])
async def test_every_user_against_starting_a_look(world: World, role: str) -> None:
    """Looks are for the home's operators only, admins included only if chosen."""
    ws = await world.ws(role)
    await ws.send_json(
        {"id": 1, "type": f"{DOMAIN}/session/start", "entry_id": world.home.entry.entry_id}
    )
    reply = await ws.receive_json()
    entry_id = world.home.entry.entry_id
    denied = await records(world.hass, entry_id, "session_denied")
    if role == "operator":
        assert reply["success"], reply
        assert denied == []
        await world.home.runtime.gate.async_shutdown()
        return
    assert not reply["success"]
    assert reply["error"]["code"] == "not_operator"
    [record] = denied
    assert record.user_id == world.user_id(role)
    assert world.home.runtime.supervisor.active_session is None


async def test_a_deactivated_operator_may_do_nothing(world: World) -> None:
    """An operator whose account is deactivated keeps the id in `operators`, but no role."""
    operator = world.people["operator"].user
    await world.hass.auth.async_deactivate_user(operator)
    await world.home.go(at("23:01"))
    with pytest.raises(Unauthorized):
        await call_action(world, "operator", "visit_done", {})
    assert world.home.runtime.supervisor.visit_required
    with pytest.raises(GateRefusal) as refusal:
        await world.home.runtime.gate.async_start(operator.id, None, Purpose.SUPERVISION)
    assert refusal.value.code == "not_operator"


# --- refusals are merged per user, action and minute -----------------------------------------


async def test_a_flood_of_refused_calls_writes_one_record_a_minute_with_its_count(
    world: World,
) -> None:
    hass = world.hass
    entry_id = world.home.entry.entry_id
    for _ in range(20):
        with pytest.raises(Unauthorized):
            await call_action(world, "stranger", "skip_night", {})
    # The first is on disk at once; the 19 after it are only counted so far.
    [first] = await records(hass, entry_id, "action_denied")
    assert first.data == {"action": "skip_night", "count": 1}

    # Another action of the same user is its own record.
    with pytest.raises(Unauthorized):
        await press(world, "stranger", "test_camera")
    assert [r.data["action"] for r in await records(hass, entry_id, "action_denied")] == [
        "skip_night",
        "test_camera",
    ]

    # A minute later the repeats are written as one record with their count.
    await world.home.go(at("22:36:01"))
    merged = [
        r
        for r in await records(hass, entry_id, "action_denied")
        if r.data["action"] == "skip_night"
    ]
    assert [r.data["count"] for r in merged] == [1, 19]
    assert merged[1].user_id == world.user_id("stranger")
    assert merged[1].data["first"] <= merged[1].data["last"]

    # The flood goes on: still one record a minute, however many calls.
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await call_action(world, "stranger", "skip_night", {})
    await world.home.go(at("22:37:02"))
    counts = [
        r.data["count"]
        for r in await records(hass, entry_id, "action_denied")
        if r.data["action"] == "skip_night"
    ]
    assert counts == [1, 19, 5]
    # A quiet minute closes the window: the next refusal is written at once again.
    await world.home.go(at("22:38:03"))
    with pytest.raises(Unauthorized):
        await call_action(world, "stranger", "skip_night", {})
    counts = [
        r.data["count"]
        for r in await records(hass, entry_id, "action_denied")
        if r.data["action"] == "skip_night"
    ]
    assert counts == [1, 19, 5, 1]


async def test_counted_refusals_are_written_when_home_assistant_stops(world: World) -> None:
    hass = world.hass
    entry_id = world.home.entry.entry_id
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await call_action(world, "stranger", "visit_done", {})
    path = hass.data[AUDIT_TRAIL].log.path
    await hass.async_stop()
    # Read back from disk, as an auditor would after the stop.
    log = AuditLog(path)
    await hass.async_add_executor_job(log.start)
    try:
        found = [r for r in log.query(entry_id=entry_id) if r.kind == "action_denied"]
    finally:
        await hass.async_add_executor_job(log.stop)
    assert [r.data["count"] for r in found] == [1, 2]


def test_the_roles_table_is_the_contracts() -> None:
    """One table decides; it says what docs/operations.md, "Who may do what", says."""
    staff = {Role.OPERATOR, Role.ADMIN, Role.AUTOMATION}
    expected = {
        Action.VISIT_DONE: staff,
        Action.VISIT_ACKNOWLEDGE: staff,
        Action.SKIP_NIGHT: staff,
        Action.UNSKIP_NIGHT: staff,
        Action.SKIP_TONIGHT: staff,
        Action.PROBE_CAMERA: staff,
        Action.TEST_CAMERA: staff,
        Action.CONSENT_OFF: staff,
        Action.CONSENT_ON: set(),
        Action.AUDIT_LOG: {Role.OPERATOR, Role.ADMIN},
        Action.LIST_HOME: {Role.OPERATOR, Role.ADMIN},
        Action.LOOK: {Role.OPERATOR},
        Action.ACCESS_REVIEW: {Role.ADMIN},
        Action.REVIEW_DONE: {Role.ADMIN},
        Action.AUDIT_EXPORT: {Role.ADMIN},
        Action.AUDIT_SEAL: {Role.ADMIN},
        Action.AUDIT_DELETE_HOME: {Role.ADMIN},
        Action.RESTART_COMMISSIONING: {Role.ADMIN},
        Action.HOMES_NOT_RUNNING: staff,
    }
    assert {action: set(roles) for action, roles in ALLOWED.items()} == expected
    assert not any(may(frozenset(), action) for action in Action)
