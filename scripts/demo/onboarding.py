"""Setting the demo up as an installer would: onboarding, users, MQTT and the demo home."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
import re
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from simulators.broker import Broker
from simulators.hub import Hub

from .client import HomeAssistant, poll
from .config import (
    ADMIN,
    AREA_NAME,
    DOMAIN,
    FIRST_SLOT_AHEAD,
    FOLLOW_UP_MINUTES,
    HOME_NAME,
    MANUFACTURER,
    OPERATOR,
    READY_TIMEOUT_S,
    REQUIRED_COMPONENTS,
    SLOT_MINUTES,
    TIMES_APART,
    USERS_GROUP,
    Account,
    DemoError,
    Paths,
    new_password,
    save_credentials,
)
from .processes import CameraProcess, HubProcess


async def onboard(ha: HomeAssistant, paths: Paths, accounts: dict[str, Account]) -> None:
    """Create the owner and finish onboarding as the frontend would; or log in as the owner."""
    async with ha.session.get(f"{ha.base}/api/onboarding") as response:
        # The onboarding views exist only until onboarding is complete.
        steps = (
            {item["step"]: item["done"] for item in await response.json()}
            if response.status == 200
            else None
        )
    if steps is not None and not steps.get("user", True):
        admin = accounts.get("admin") or Account(ADMIN[0], new_password())
        accounts["admin"] = admin
        # Saved before the owner exists, so a crash in between cannot lose the password.
        save_credentials(paths.credentials, accounts)
        created = await ha.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": ha.client_id,
                "name": ADMIN[1],
                "username": admin.username,
                "password": admin.password,
                "language": "en",
            },
        )
        await ha.exchange_code(created["auth_code"])
    else:
        if "admin" not in accounts:
            raise DemoError(
                f"{paths.config} is already onboarded but {paths.credentials} is missing: "
                "delete the config dir to start afresh"
            )
        await ha.login(accounts["admin"])
    if steps is None:
        return
    # The same order as the frontend's onboarding pages.
    if not steps.get("core_config", True):
        await ha.request("POST", "/api/onboarding/core_config", {})
    if not steps.get("analytics", True):
        await ha.request("POST", "/api/onboarding/analytics", {})
    if not steps.get("integration", True):
        await ha.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": ha.client_id, "redirect_uri": f"{ha.base}/?auth_callback=1"},
        )


async def wait_until_running(ha: HomeAssistant) -> dict[str, Any]:
    """Wait for Home Assistant to finish starting; return its /api/config."""

    async def running() -> dict[str, Any] | None:
        config = await ha.request("GET", "/api/config")
        return config if config.get("state") == "RUNNING" else None

    return await poll("Home Assistant to finish starting", running, READY_TIMEOUT_S)


async def check_frontend_can_load(ha: HomeAssistant) -> None:
    """Make the websocket calls the frontend cannot start without.

    An API that answers is not yet a UI that loads: `get_services`, for one, imports every base
    platform, and fails (leaving the browser on "Loading…") when one of them lacks a requirement.
    """
    for command in ("get_services", "get_panels", "frontend/get_themes"):
        try:
            await ha.ws(command)
        except DemoError as err:
            raise DemoError(
                f"the frontend would not load: {err} (Home Assistant's log says why)"
            ) from err


async def ensure_operator(ha: HomeAssistant, paths: Paths, accounts: dict[str, Account]) -> str:
    """Create the operator (a non-admin user) unless it exists; return its user id."""
    users = await ha.ws("config/auth/list")
    existing = next((u for u in users if u.get("username") == OPERATOR[0]), None)
    if existing is not None:
        if "operator" not in accounts:
            # The user exists but its password was lost: set a new one, as an owner can.
            accounts["operator"] = Account(OPERATOR[0], new_password())
            save_credentials(paths.credentials, accounts)
            await ha.ws(
                "config/auth_provider/homeassistant/admin_change_password",
                user_id=existing["id"],
                password=accounts["operator"].password,
            )
        return str(existing["id"])
    operator = accounts.get("operator") or Account(OPERATOR[0], new_password())
    accounts["operator"] = operator
    save_credentials(paths.credentials, accounts)
    # The same three calls as Settings → People → Add person with "Allow login".
    created = await ha.ws("config/auth/create", name=OPERATOR[1], group_ids=[USERS_GROUP])
    user_id = str(created["user"]["id"])
    await ha.ws(
        "config/auth_provider/homeassistant/create",
        user_id=user_id,
        username=operator.username,
        password=operator.password,
    )
    await ha.ws("person/create", name=OPERATOR[1], user_id=user_id)
    return user_id


def agreed_times(now: datetime) -> list[str]:
    """Three agreed times: the first a few minutes from now, the others well after it."""
    first = (now + FIRST_SLOT_AHEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [(first + index * TIMES_APART).strftime("%H:%M") for index in range(3)]


async def find_home(ha: HomeAssistant) -> dict[str, Any] | None:
    """Return the demo home's config entry, if an earlier start added it."""
    entries = await ha.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    return next((e for e in entries if e.get("title") == HOME_NAME), None)


def camera_answers(camera: CameraProcess) -> dict[str, str]:
    """The camera step as an installer fills it in: the stream URL and the camera's login."""
    login = camera.account
    return {"stream_url": camera.url, "username": login.username, "password": login.password}


async def add_home(
    ha: HomeAssistant,
    camera: CameraProcess,
    operator_id: str,
    time_zone: str,
    equipment: dict[str, str],
) -> tuple[str, list[str]]:
    """Add the demo home through the integration's config flow; return (entry id, times).

    The camera step is given the simulated camera's stream, which the flow tries at once; the
    equipment step the entities that MQTT discovery made from the hub, as an installer picks them.
    """
    times = agreed_times(datetime.now(ZoneInfo(time_zone)))
    answers: dict[str, dict[str, Any]] = {
        "camera": {"name": HOME_NAME, **camera_answers(camera)},
        "schedule": {
            "times": times,
            "view_seconds": 30,
            "slot_minutes": SLOT_MINUTES,
            "follow_up_minutes": FOLLOW_UP_MINUTES,
            "follow_ups": 1,
        },
        "equipment": {**equipment, "min_power_w": 1.0},
        "operators": {"operators": [operator_id]},
        "consent": {"consent": True},
    }
    result = await ha.request(
        "POST",
        "/api/config/config_entries/flow",
        {"handler": DOMAIN, "show_advanced_options": False},
    )
    answered: set[str] = set()
    while result.get("type") == "form":
        step = result["step_id"]
        if result.get("errors"):
            raise DemoError(f"the config flow refused step {step!r}: {result['errors']}")
        if step not in answers or step in answered:
            raise DemoError(f"the config flow asked for an unexpected step {step!r}: {result}")
        answered.add(step)
        result = await ha.request(
            "POST", f"/api/config/config_entries/flow/{result['flow_id']}", answers[step]
        )
    if result.get("type") != "create_entry":
        raise DemoError(f"the config flow ended without a home: {result}")
    return str(result["result"]["entry_id"]), times


async def reconfigure_camera(ha: HomeAssistant, entry_id: str, camera: CameraProcess) -> None:
    """Point the demo home at the camera's new address through the reconfigure flow.

    As a technician does in Settings when a camera moved: the flow tries the camera first. It
    also moves a home made by an earlier demo, whose camera was a local file, to the stream.
    """
    start = {"handler": DOMAIN, "entry_id": entry_id, "show_advanced_options": False}
    result = await ha.request("POST", "/api/config/config_entries/flow", start)
    if result.get("type") == "form" and result.get("step_id") == "reconfigure":
        result = await ha.request(
            "POST", f"/api/config/config_entries/flow/{result['flow_id']}", camera_answers(camera)
        )
    if result.get("type") != "abort" or result.get("reason") != "reconfigure_successful":
        raise DemoError(
            f"the reconfigure flow did not move {HOME_NAME} to {camera.url}:"
            f" {result.get('errors') or result}"
        )


async def place_in_area(ha: HomeAssistant, device_ids: list[str]) -> None:
    """Put the new home and the hub's devices in the bedroom, so the Overview shows them together.

    Done once, when the home is added: a person may move them elsewhere afterwards.
    """
    areas = await ha.ws("config/area_registry/list")
    area = next((a for a in areas if a.get("name", "").casefold() == AREA_NAME.casefold()), None)
    if area is None:
        return
    for device_id in device_ids:
        await ha.ws("config/device_registry/update", device_id=device_id, area_id=area["area_id"])


async def ensure_mqtt(
    ha: HomeAssistant, paths: Paths, broker: Broker, accounts: dict[str, Account]
) -> str:
    """Set up Home Assistant's MQTT integration against the demo's broker; say what was done.

    Through the MQTT config flow, as an installer does in Settings (which also tries the login).
    A later start keeps the entry while the broker is where it was; if the broker had to move
    to another port, the entry is reconfigured through the same flow.
    """
    answers = {
        "broker": broker.host,
        "port": broker.port,
        # amqtt speaks MQTT 3.1.1 only; Home Assistant's default is 5.
        "protocol": "5" if broker.kind == "mosquitto" else "3.1.1",
        "username": broker.username,
        "password": broker.password,
        "other_settings": {"set_client_cert": False, "set_ca_cert": "off", "transport": "tcp"},
    }
    mqtt = accounts["mqtt"]
    entries = await ha.request("GET", "/api/config/config_entries/entry?domain=mqtt")
    if entries and mqtt.port == broker.port:
        done = "kept"
    else:
        start: dict[str, Any] = {"handler": "mqtt", "show_advanced_options": False}
        if entries:
            start["entry_id"] = entries[0]["entry_id"]  # a reconfigure flow
        result = await ha.request("POST", "/api/config/config_entries/flow", start)
        if result.get("type") == "form" and result.get("step_id") == "broker":
            result = await ha.request(
                "POST", f"/api/config/config_entries/flow/{result['flow_id']}", answers
            )
        accepted = result.get("type") == "create_entry" or (
            result.get("type") == "abort" and result.get("reason") == "reconfigure_successful"
        )
        if not accepted:
            raise DemoError(
                "Home Assistant's MQTT config flow did not accept the demo's broker: "
                f"{result.get('errors') or result}"
            )
        mqtt.port = broker.port
        save_credentials(paths.credentials, accounts)
        done = "reconfigured" if entries else "added"

    async def loaded() -> dict[str, Any] | None:
        entries = await ha.request("GET", "/api/config/config_entries/entry?domain=mqtt")
        entry = entries[0] if entries else None
        if entry is not None and entry.get("state") in ("setup_error", "failed_unload"):
            raise DemoError(f"the MQTT integration is {entry['state']}: {entry.get('reason')}")
        return entry if entry is not None and entry.get("state") == "loaded" else None

    await poll("the MQTT integration to load", loaded, READY_TIMEOUT_S)
    return done


@dataclass
class Equipment:
    """The home's equipment entities that MQTT discovery made from the hub."""

    entities: dict[str, str]  # equipment option -> entity id
    device_ids: list[str]
    states: dict[str, str]  # entity id -> state


async def hub_equipment(ha: HomeAssistant, hub: Hub) -> Equipment | None:
    """The entities Home Assistant made from the hub's discovery, once each has a state.

    Found in the entity registry by their discovery unique ids (platform `mqtt`), whatever
    entity ids they got.
    """
    registry = await ha.ws("config/entity_registry/list")
    by_unique_id = {e["unique_id"]: e for e in registry if e.get("platform") == "mqtt"}
    entities: dict[str, str] = {}
    device_ids: list[str] = []
    states: dict[str, str] = {}
    for key, unique_id in hub.unique_ids().items():
        entity = by_unique_id.get(unique_id)
        if entity is None:
            return None
        entity_id = str(entity["entity_id"])
        state = await ha.request("GET", f"/api/states/{entity_id}", ok=(200, 404))
        if state is None or state.get("state") in (None, "unknown", "unavailable"):
            return None
        entities[key] = entity_id
        states[entity_id] = str(state["state"])
        if entity.get("device_id") and entity["device_id"] not in device_ids:
            device_ids.append(str(entity["device_id"]))
    return Equipment(entities, device_ids, states)


async def refuse_stand_ins(ha: HomeAssistant) -> None:
    """Stop with advice if the config dir comes from the demo of before the hub simulator.

    That demo's home watched template stand-ins that no longer exist, so it would be at fault
    forever.
    """
    registry = await ha.ws("config/entity_registry/list")
    if any(
        e.get("platform") == "template" and e.get("unique_id") == f"{DOMAIN}_demo_plug"
        for e in registry
    ):
        raise DemoError(
            "this demo config was made by an earlier demo whose equipment were template"
            " stand-ins; the demo now runs its equipment through MQTT: delete the demo's"
            " directory (.demo) to start afresh"
        )


async def find_device(ha: HomeAssistant, entry_id: str) -> dict[str, Any] | None:
    """Return the demo home's device from the device registry, once the entry made it."""
    devices = await ha.ws("config/device_registry/list")
    return next(
        (
            d
            for d in devices
            if entry_id in d.get("config_entries", []) and d.get("manufacturer") == MANUFACTURER
        ),
        None,
    )


async def home_states(ha: HomeAssistant, entry_id: str) -> dict[str, dict[str, Any]] | None:
    """Return the home's sensor states once its status has one (next supervision if known).

    The entities are found by unique id (`<entry_id>_<key>`), as the public contract names
    them, whatever entity ids the registry gave them.
    """
    entities = await ha.ws("config/entity_registry/list")
    keys = ("status", "next_supervision", "equipment")
    wanted = {f"{entry_id}_{key}": key for key in keys}
    found = {
        wanted[e["unique_id"]]: e["entity_id"]
        for e in entities
        if e.get("platform") == DOMAIN and e.get("unique_id") in wanted
    }
    states: dict[str, dict[str, Any]] = {}
    for key, entity_id in found.items():
        state = await ha.request("GET", f"/api/states/{entity_id}", ok=(200, 404))
        if state is not None and state.get("state") not in (None, "unknown", "unavailable"):
            states[key] = state
    return states if "status" in states else None


async def without_fault(ha: HomeAssistant, entry_id: str) -> dict[str, dict[str, Any]] | None:
    """The home's states if it reports no fault, else None.

    No fault: the equipment sensor off (the home reads the hub's entities and its camera and
    finds nothing wrong) and the status anything but `fault`.
    """
    states = await home_states(ha, entry_id)
    equipment = (states or {}).get("equipment")
    if states is None or equipment is None or equipment["state"] != "off":
        return None
    return None if states["status"]["state"] == "fault" else states


async def check_no_fault(ha: HomeAssistant, entry_id: str) -> None:
    """After the checks (plug off and on, the camera probed): the home reports no fault.

    Waited for as the start waits: the plug's brief switch-off is inside the fault's debounce,
    so a fault that stays is one the checks did not cause.
    """

    async def healthy() -> dict[str, dict[str, Any]] | None:
        return await without_fault(ha, entry_id)

    await poll(f"{HOME_NAME} to report no fault after the checks", healthy, READY_TIMEOUT_S)


@dataclass
class Demo:
    """What the closing print tells the person."""

    url: str
    accounts: dict[str, Account]
    device_id: str
    entry_id: str
    states: dict[str, dict[str, Any]]
    equipment: Equipment
    mqtt_entry: str
    camera_entry: str
    times: list[str]
    time_zone: str
    home_added_now: bool
    failed_components: list[str]
    camera_probe: str | None = None


async def bootstrap(
    ha: HomeAssistant,
    paths: Paths,
    accounts: dict[str, Account],
    hub: HubProcess,
    camera: CameraProcess,
) -> Demo:
    """Onboard, create the users, MQTT and the demo home (each only if missing), and verify."""
    await onboard(ha, paths, accounts)
    config = await wait_until_running(ha)
    missing = [c for c in REQUIRED_COMPONENTS if c not in config.get("components", [])]
    if missing:
        raise DemoError(f"Home Assistant did not set up {', '.join(missing)}")
    await check_frontend_can_load(ha)
    await refuse_stand_ins(ha)
    operator_id = await ensure_operator(ha, paths, accounts)
    mqtt_entry = await ensure_mqtt(ha, paths, hub.broker, accounts)

    async def discovered() -> Equipment | None:
        return await hub_equipment(ha, hub.hub)

    equipment = await poll(
        f"Home Assistant to discover the hub's plug, power, bed and connectivity entities"
        f" (MQTT discovery; the hub's output is in {paths.hub_log})",
        discovered,
        READY_TIMEOUT_S,
    )

    times: list[str] = []
    existing = await find_home(ha)
    if existing is None:
        entry_id, times = await add_home(
            ha, camera, operator_id, str(config["time_zone"]), equipment.entities
        )
        camera_done = "added"
    else:
        entry_id = str(existing["entry_id"])
        camera_done = "kept"
        if accounts["camera"].port != camera.port:
            await reconfigure_camera(ha, entry_id, camera)
            camera_done = "reconfigured"
    if accounts["camera"].port != camera.port:
        accounts["camera"].port = camera.port or 0
        save_credentials(paths.credentials, accounts)

    async def loaded() -> dict[str, Any] | None:
        entry = await find_home(ha)
        if entry is None:
            raise DemoError(f"{HOME_NAME}'s config entry disappeared")
        if entry.get("state") in ("setup_error", "not_loaded", "failed_unload"):
            raise DemoError(
                f"{HOME_NAME} is not running: its config entry is {entry['state']}"
                f" ({entry.get('reason') or 'no reason given'}); {paths.log} tells why"
            )
        return entry if entry.get("state") == "loaded" else None

    async def device() -> dict[str, Any] | None:
        return await find_device(ha, entry_id)

    async def healthy() -> dict[str, dict[str, Any]] | None:
        return await without_fault(ha, entry_id)

    await poll(f"{HOME_NAME}'s config entry to load", loaded, READY_TIMEOUT_S)
    found = await poll(f"the device of {HOME_NAME}", device, READY_TIMEOUT_S)
    if existing is None:
        await place_in_area(ha, [str(found["id"]), *equipment.device_ids])
    home = await poll(f"{HOME_NAME}'s sensors, with no equipment fault", healthy, READY_TIMEOUT_S)
    return Demo(
        url=f"{ha.base}/",
        accounts=accounts,
        device_id=str(found["id"]),
        entry_id=entry_id,
        states=home,
        equipment=equipment,
        mqtt_entry=mqtt_entry,
        camera_entry=camera_done,
        times=times,
        time_zone=str(config["time_zone"]),
        home_added_now=existing is None,
        failed_components=failed_components(paths.log),
    )


def failed_components(log: Path) -> list[str]:
    """Integrations that Home Assistant logged as failed (e.g. a requirement .venv lacks)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return sorted(set(re.findall(r"Setup failed for '([\w.]+)'", text)))


async def check_operator_login(session: aiohttp.ClientSession, port: int, demo: Demo) -> None:
    """Log in as the operator with the printed password; it must be an ordinary user."""
    operator = HomeAssistant(session, port)
    try:
        await operator.login(demo.accounts["operator"])
        user = await operator.ws("auth/current_user")
    finally:
        await operator.close()
    if user.get("is_admin") or user.get("is_owner"):
        raise DemoError(f"the operator {user.get('name')!r} is an administrator")


async def check_plug_round_trip(ha: HomeAssistant, plug: str) -> None:
    """Switch the plug off and on from Home Assistant: through the broker to the hub and back.

    Home Assistant publishes on the plug's `set` topic, the hub switches and publishes its new
    state, and the entity follows; back on at once, well inside the fault's debounce.
    """
    for service, wanted in (("turn_off", "off"), ("turn_on", "on")):
        await ha.request("POST", f"/api/services/switch/{service}", {"entity_id": plug})

        async def switched(wanted: str = wanted) -> str | None:
            state = await ha.request("GET", f"/api/states/{plug}")
            return wanted if state.get("state") == wanted else None

        await poll(f"{plug} to turn {wanted} through the hub", switched, READY_TIMEOUT_S)


async def check_camera(ha: HomeAssistant, device_id: str) -> str:
    """Have Home Assistant probe the home's camera (the probe_camera action); say what it saw.

    The probe connects to the camera's stream, decodes a frame and judges it, as the health
    monitor does before every slot. `frozen` also means a picture came: the same as the probe
    Home Assistant made seconds earlier when the home started (a sleeping room hardly changes;
    the health monitor calls the camera frozen only when it stays so on rechecks minutes apart).
    """
    response = await ha.request(
        "POST",
        f"/api/services/{DOMAIN}/probe_camera?return_response",
        {"device_id": device_id},
    )
    result = response.get("service_response", {}) if isinstance(response, dict) else {}
    if not result.get("ok") and result.get("reason") != "frozen":
        raise DemoError(f"Home Assistant's probe of the demo camera failed: {result}")
    seen = "a picture" if result.get("ok") else "a picture, the same as seconds before"
    return f"{seen} in {int(result.get('ms', 0))} ms"
