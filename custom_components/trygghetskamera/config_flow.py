"""Config, options and reconfigure flows: add a home, its schedule, equipment and operators."""

import asyncio
from collections.abc import Callable, Mapping
from datetime import date
import functools
import json
import posixpath
import re
from typing import Any, override
from urllib.parse import parse_qsl, urlencode, urlsplit

from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import instance_id, selector
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.util import dt as dt_util
import voluptuous as vol

from . import heartbeat, media, mqtt_publish, onvif_keyframe, view_filter
from .audit_trail import acting_user_id, async_get_trail
from .const import (
    ACK_MINUTES_RANGE,
    AUDIT_RETENTION_MONTHS_RANGE,
    CONF_ACK_MINUTES,
    CONF_AUDIT_RETENTION_MONTHS,
    CONF_BED_ENTITY,
    CONF_CONNECTIVITY_ENTITY,
    CONF_DECISION_END,
    CONF_DECISION_REFERENCE,
    CONF_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS,
    CONF_INSTALLATION_ID,
    CONF_KIND,
    CONF_MIN_POWER_W,
    CONF_MQTT_PUBLISH,
    CONF_NAME,
    CONF_ONVIF_PORT,
    CONF_OPERATORS,
    CONF_PASSWORD,
    CONF_PHYSICAL_TIMES,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    CONF_PRIVACY_ENTITY,
    CONF_RESPONSE_MINUTES,
    CONF_SLOT_MINUTES,
    CONF_STALE_SECONDS,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_URGENT_ACK_MINUTES,
    CONF_USERNAME,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    CONF_VIEW_SECONDS,
    CONSENT_RECORD,
    DEFAULT_ACK_MINUTES,
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DEFAULT_FOLLOW_UP_MINUTES,
    DEFAULT_FOLLOW_UPS,
    DEFAULT_MIN_POWER_W,
    DEFAULT_RESPONSE_MINUTES,
    DEFAULT_SLOT_MINUTES,
    DEFAULT_STALE_SECONDS,
    DEFAULT_URGENT_ACK_MINUTES,
    DEFAULT_VIEW_SECONDS,
    DOMAIN,
    EQUIPMENT_ENTITIES,
    FOLLOW_UP_MINUTES_RANGE,
    FOLLOW_UPS_RANGE,
    KIND_WATCH,
    PROBE_TIMEOUT_S,
    RESPONSE_MINUTES_RANGE,
    SLOT_MINUTES_RANGE,
    STALE_SECONDS_RANGE,
    VIEW_SECONDS_RANGE,
    is_home,
)
from .supervision.schedule import ProblemCode, format_time, parse_time, validate_times

CONF_CONSENT = "consent"
# The consent step: who consented for the resident, how many close relatives living there
# consented too, when, and the document that holds it (a reference, never the document).
CONF_CONSENT_BY = "consent_by"
CONF_CO_RESIDENTS = "co_residents"
CONF_CONSENT_DATE = "consent_date"
CONF_CONSENT_DOCUMENT = "consent_document"
CONSENT_BY_OPTIONS = ("resident", "legal_representative")
MAX_CO_RESIDENTS = 6

# A Swedish personal identity number (personnummer/samordningsnummer), with or without century
# and separator. A home's label must be pseudonymous, so the flow refuses anything like one.
_PERSONAL_NUMBER = re.compile(r"(?<!\d)(\d{2})?\d{6}[-+ ]?\d{4}(?!\d)")

# Several agreed times in one field: "22:30, 01:30 och 04:30", "22:30 01:30", "22:30; 01:30".
_TIME_SEPARATORS = re.compile(r"[\s,;]+")
_TIME_CONJUNCTIONS = frozenset({"och", "and", "&", "+"})
# Written like a time but not one ("25:00", "12:61"): its own message, not the format's.
_TIME_SHAPED = re.compile(r"^\d{1,2}:\d{2}$")

# Ticked on the equipment step when a plug, power meter or router serves several homes on
# purpose (a building's router, say). A bed sensor or privacy switch is never shared.
CONF_SHARED_EQUIPMENT = "shared_equipment"
SHAREABLE_EQUIPMENT = (CONF_PLUG_ENTITY, CONF_POWER_ENTITY, CONF_CONNECTIVITY_ENTITY)
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
_SECRET_QUERY_KEYS = frozenset(
    {"password", "pass", "pwd", "passwd", "user", "username", "usr", "token", "auth", "key"}
)

_OCCUPANCY_CLASSES = [
    BinarySensorDeviceClass.OCCUPANCY,
    BinarySensorDeviceClass.PRESENCE,
    BinarySensorDeviceClass.MOTION,
]


def _number(low: float, high: float, *, step: float = 1, unit: str | None = None) -> Any:
    config = selector.NumberSelectorConfig(
        min=low, max=high, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def camera_schema(defaults: dict[str, Any], *, with_name: bool = True) -> vol.Schema:
    """Return the form of the camera step (also used by reconfigure)."""
    fields: dict[Any, Any] = {}
    if with_name:
        fields[vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, vol.UNDEFINED))] = (
            selector.TextSelector()
        )
    fields |= {
        vol.Required(
            CONF_STREAM_URL, default=defaults.get(CONF_STREAM_URL, vol.UNDEFINED)
        ): selector.TextSelector(),
        vol.Optional(
            CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
        ): selector.TextSelector(selector.TextSelectorConfig(autocomplete="username")),
        vol.Optional(CONF_PASSWORD): selector.TextSelector(
            selector.TextSelectorConfig(
                type=selector.TextSelectorType.PASSWORD, autocomplete="current-password"
            )
        ),
        vol.Optional(
            CONF_ONVIF_PORT, description={"suggested_value": defaults.get(CONF_ONVIF_PORT)}
        ): vol.All(
            selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                )
            ),
            vol.Coerce(int),
        ),
    }
    return vol.Schema(fields)


def schedule_schema(defaults: dict[str, Any]) -> vol.Schema:
    """Return the form of the schedule step."""
    return vol.Schema(
        {
            vol.Required(CONF_TIMES, default=defaults.get(CONF_TIMES, [])): (
                selector.TextSelector(selector.TextSelectorConfig(multiple=True))
            ),
            vol.Required(
                CONF_VIEW_SECONDS, default=defaults.get(CONF_VIEW_SECONDS, DEFAULT_VIEW_SECONDS)
            ): _number(*VIEW_SECONDS_RANGE, unit="s"),
            vol.Required(
                CONF_SLOT_MINUTES, default=defaults.get(CONF_SLOT_MINUTES, DEFAULT_SLOT_MINUTES)
            ): _number(*SLOT_MINUTES_RANGE, unit="min"),
            vol.Required(
                CONF_FOLLOW_UP_MINUTES,
                default=defaults.get(CONF_FOLLOW_UP_MINUTES, DEFAULT_FOLLOW_UP_MINUTES),
            ): _number(*FOLLOW_UP_MINUTES_RANGE, unit="min"),
            vol.Required(
                CONF_FOLLOW_UPS, default=defaults.get(CONF_FOLLOW_UPS, DEFAULT_FOLLOW_UPS)
            ): _number(*FOLLOW_UPS_RANGE),
            # The patrol's loop: which agreed times are physical visits, and its deadlines.
            vol.Optional(CONF_PHYSICAL_TIMES, default=defaults.get(CONF_PHYSICAL_TIMES, [])): (
                selector.TextSelector(selector.TextSelectorConfig(multiple=True))
            ),
            vol.Required(
                CONF_ACK_MINUTES, default=defaults.get(CONF_ACK_MINUTES, DEFAULT_ACK_MINUTES)
            ): _number(*ACK_MINUTES_RANGE, unit="min"),
            vol.Required(
                CONF_URGENT_ACK_MINUTES,
                default=defaults.get(CONF_URGENT_ACK_MINUTES, DEFAULT_URGENT_ACK_MINUTES),
            ): _number(*ACK_MINUTES_RANGE, unit="min"),
            vol.Required(
                CONF_RESPONSE_MINUTES,
                default=defaults.get(CONF_RESPONSE_MINUTES, DEFAULT_RESPONSE_MINUTES),
            ): _number(*RESPONSE_MINUTES_RANGE, unit="min"),
        }
    )


def _entity(domain: str, device_class: Any = None) -> Any:
    return selector.EntitySelector(
        selector.EntitySelectorConfig(domain=domain, device_class=device_class)
    )


def equipment_schema(defaults: dict[str, Any]) -> vol.Schema:
    """Return the form of the equipment step; every entity is optional."""

    def optional(key: str) -> vol.Optional:
        return vol.Optional(key, description={"suggested_value": defaults.get(key)})

    return vol.Schema(
        {
            optional(CONF_PRIVACY_ENTITY): _entity("switch"),
            optional(CONF_PLUG_ENTITY): _entity("switch"),
            optional(CONF_POWER_ENTITY): _entity("sensor", SensorDeviceClass.POWER),
            vol.Required(
                CONF_MIN_POWER_W, default=defaults.get(CONF_MIN_POWER_W, DEFAULT_MIN_POWER_W)
            ): _number(0, 1000, step=0.1, unit="W"),
            optional(CONF_BED_ENTITY): _entity("binary_sensor", _OCCUPANCY_CLASSES),
            optional(CONF_CONNECTIVITY_ENTITY): _entity(
                "binary_sensor", BinarySensorDeviceClass.CONNECTIVITY
            ),
            vol.Required(
                CONF_SHARED_EQUIPMENT, default=bool(defaults.get(CONF_SHARED_EQUIPMENT, False))
            ): selector.BooleanSelector(),
            vol.Required(
                CONF_MQTT_PUBLISH, default=bool(defaults.get(CONF_MQTT_PUBLISH, False))
            ): selector.BooleanSelector(),
        }
    )


async def _operator_choices(hass: HomeAssistant) -> list[selector.SelectOptionDict]:
    users = await hass.auth.async_get_users()
    return [
        selector.SelectOptionDict(value=user.id, label=user.name or user.id)
        for user in sorted(users, key=lambda user: (user.name or "").casefold())
        if user.is_active and not user.system_generated
    ]


async def operators_schema(hass: HomeAssistant, defaults: dict[str, Any]) -> vol.Schema:
    """Return the form of the operators step: active, non-system users, and log retention."""
    return vol.Schema(
        {
            vol.Required(CONF_OPERATORS, default=defaults.get(CONF_OPERATORS, [])): (
                selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=await _operator_choices(hass),
                        multiple=True,
                        mode=selector.SelectSelectorMode.LIST,
                    )
                )
            ),
            vol.Required(
                CONF_AUDIT_RETENTION_MONTHS,
                default=defaults.get(CONF_AUDIT_RETENTION_MONTHS, DEFAULT_AUDIT_RETENTION_MONTHS),
            ): selector.NumberSelector(
                # No bounds in the form: the step checks them with a translated message.
                selector.NumberSelectorConfig(
                    step=1, mode=selector.NumberSelectorMode.BOX, unit_of_measurement="months"
                )
            ),
            vol.Optional(
                CONF_DECISION_REFERENCE,
                description={"suggested_value": defaults.get(CONF_DECISION_REFERENCE)},
            ): selector.TextSelector(),
            vol.Optional(
                CONF_DECISION_END, description={"suggested_value": defaults.get(CONF_DECISION_END)}
            ): selector.DateSelector(),
        }
    )


def validate_decision(user_input: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The decision reference and end date as entered (absent when left empty), and errors.

    The reference names the decision, never the resident: one shaped like a personal identity
    number is refused. The end date is a calendar date (YYYY-MM-DD).
    """
    decision: dict[str, str] = {}
    errors: dict[str, str] = {}
    reference = str(user_input.get(CONF_DECISION_REFERENCE) or "").strip()
    if _PERSONAL_NUMBER.search(reference):
        errors[CONF_DECISION_REFERENCE] = "personal_number_reference"
    elif reference:
        decision[CONF_DECISION_REFERENCE] = reference
    end = user_input.get(CONF_DECISION_END)
    if end:
        try:
            decision[CONF_DECISION_END] = date.fromisoformat(str(end)).isoformat()
        except ValueError:
            errors[CONF_DECISION_END] = "invalid_date"
    return decision, errors


def view_schema(defaults: dict[str, Any]) -> vol.Schema:
    """Return the form of the view step: the sensor view and the bed area as "x0, y0, x1, y1"."""
    region = defaults.get(CONF_VIEW_REGION)
    if not isinstance(region, str):
        region = view_filter.format_region(region)
    return vol.Schema(
        {
            vol.Required(
                CONF_VIEW_MODE,
                default=defaults.get(CONF_VIEW_MODE) or view_filter.DEFAULT_VIEW_MODE,
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=list(view_filter.VIEW_MODES),
                    translation_key=CONF_VIEW_MODE,
                    mode=selector.SelectSelectorMode.LIST,
                )
            ),
            vol.Optional(
                CONF_VIEW_REGION, description={"suggested_value": region or None}
            ): selector.TextSelector(),
        }
    )


def validate_view(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Normalise the view step's input; return ({view_mode, view_region}, errors)."""
    mode = user_input.get(CONF_VIEW_MODE, view_filter.DEFAULT_VIEW_MODE)
    region, error = view_filter.parse_region_text(str(user_input.get(CONF_VIEW_REGION) or ""))
    if error is None and mode == view_filter.VIEW_BED_AREA and region is None:
        # A bed area without a bed would show nothing at all.
        error = view_filter.REGION_REQUIRED
    errors = {CONF_VIEW_REGION: error} if error else {}
    return {CONF_VIEW_MODE: mode, CONF_VIEW_REGION: region}, errors


def validate_name(name: str) -> str | None:
    """Return an error key for a home label that is empty or looks like a personal number."""
    if not name.strip():
        return "name_required"
    if _PERSONAL_NUMBER.search(name):
        return "personal_number"
    return None


def split_times(values: Any) -> list[str]:
    """The agreed times entered, one or several per field, each as written.

    "22:30, 01:30 och 04:30", "22:30 01:30" and separate fields all give the same list.
    """
    if isinstance(values, str):
        values = [values]
    tokens: list[str] = []
    for value in values or []:
        for token in _TIME_SEPARATORS.split(str(value)):
            if token and token.casefold() not in _TIME_CONJUNCTIONS:
                tokens.append(token)
    return tokens


def schedule_placeholders(times: list[str], slot_minutes: int) -> dict[str, str]:
    """The times an error message names: the first problem's times (overlap: both)."""
    problems = _schedule_problems(times, slot_minutes)
    if not problems:
        return {}
    named = [*problems[0].times, "", ""]
    return {"time": named[0], "first": named[0], "second": named[1]}


def validate_schedule(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Normalise the schedule step's input; return (options, errors)."""
    errors: dict[str, str] = {}
    times = split_times(user_input.get(CONF_TIMES, []))
    options: dict[str, Any] = {CONF_TIMES: times}
    # The form's number selectors already enforce the ranges of the contract (docs/contract.md).
    for key in (CONF_VIEW_SECONDS, CONF_SLOT_MINUTES, CONF_FOLLOW_UP_MINUTES, CONF_FOLLOW_UPS):
        options[key] = int(user_input[key])
    for key, default in (
        (CONF_ACK_MINUTES, DEFAULT_ACK_MINUTES),
        (CONF_URGENT_ACK_MINUTES, DEFAULT_URGENT_ACK_MINUTES),
        (CONF_RESPONSE_MINUTES, DEFAULT_RESPONSE_MINUTES),
    ):
        options[key] = int(user_input.get(key, default))
    physical = split_times(user_input.get(CONF_PHYSICAL_TIMES))
    options[CONF_PHYSICAL_TIMES] = physical
    if not times:
        errors[CONF_TIMES] = "times_required"
    else:
        problem = _first_schedule_problem(times, options[CONF_SLOT_MINUTES])
        if problem is not None:
            errors[CONF_TIMES] = problem
        else:
            options[CONF_TIMES] = sorted_times(times)
            # A physical visit by plan is one of the agreed times, as the resident agreed it.
            valid = not physical or not _first_schedule_problem(
                physical, options[CONF_SLOT_MINUTES]
            )
            if valid and set(sorted_times(physical)) <= set(options[CONF_TIMES]):
                options[CONF_PHYSICAL_TIMES] = sorted_times(physical)
            else:
                errors[CONF_PHYSICAL_TIMES] = "physical_not_agreed"
    return options, errors


def sorted_times(times: list[str]) -> list[str]:
    """Agreed times in night order: the evening first (12:00 onwards), then the morning."""
    normal = [format_time(parse_time(time)) for time in times]
    return sorted(normal, key=lambda time: (time < "12:00", time))


def _schedule_problems(times: list[str], slot_minutes: int) -> list[Any]:
    problems = validate_times(times, slot_minutes)
    # An impossible time ("25:00", "12:61") is told apart from a badly written one ("22.30").
    impossible = [
        problem
        for problem in problems
        if problem.code is ProblemCode.INVALID_TIME and _TIME_SHAPED.match(problem.times[0])
    ]
    return impossible or problems


def _first_schedule_problem(times: list[str], slot_minutes: int) -> str | None:
    problems = _schedule_problems(times, slot_minutes)
    if not problems:
        return None
    if problems[0].code is ProblemCode.INVALID_TIME and _TIME_SHAPED.match(problems[0].times[0]):
        return "impossible_time"
    return str(problems[0].code)


async def async_probe(hass: HomeAssistant, data: dict[str, Any]) -> str | None:
    """Open the camera with PyAV and decode one frame; return an error key or None.

    With an ONVIF port, the camera is asked for a keyframe once the stream plays (as a look
    does), and a camera that cannot be asked is an error of its own.
    """
    requester = onvif_keyframe.requester_for(data)
    asked: list[asyncio.Task[bool]] = []

    def ask() -> None:
        assert requester is not None
        asked.append(hass.async_create_task(requester.async_request(), eager_start=False))

    def on_open() -> None:
        hass.loop.call_soon_threadsafe(ask)

    try:
        # media.probe bounds every network wait by the timeout, so the flow never hangs.
        result = await hass.async_add_executor_job(
            functools.partial(
                media.probe,
                data[CONF_STREAM_URL],
                data.get(CONF_USERNAME),
                data.get(CONF_PASSWORD),
                timeout_s=PROBE_TIMEOUT_S,
                on_open=on_open if requester else None,
            )
        )
        # The request was made once the stream played, before the probe returned.
        if asked and not await asked[0]:
            return "onvif_failed"
    finally:
        if requester is not None:
            await requester.async_close()
    if result.ok:
        return None
    # A black or frozen picture is a placement problem, not a reason to refuse the home:
    # commissioning with the staff catches it. Everything else means no usable video.
    if result.reason in ("black", "frozen"):
        return None
    return result.reason or "cannot_connect"


def stream_url_error(url: str) -> str | None:
    """Say what is wrong with a camera's address: only rtsp(s):// and http(s):// streams are.

    A local file (a path or ``file://``) gets its own message: it is never a camera.
    """
    if media.validate_url(url):
        return None
    return "local_file" if media.is_file_reference(url) else "invalid_url"


def watch_unique_id(installation_id: str) -> str:
    """A watch's unique id: one watch per watched installation."""
    return f"watch_{installation_id}"


def camera_unique_id(url: str) -> str:
    """Identify a camera by its normalised address, so one camera is added only once.

    Scheme and host in lower case, the scheme's default port written out, the path with
    ``/./``, ``..``, doubled and trailing slashes resolved, no credentials (neither userinfo nor
    credential-looking query values); other query parameters (an NVR's ``channel=2``) are kept,
    sorted, as they choose a different camera.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return media.redact_url(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return media.redact_url(url)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    path = posixpath.normpath(path) if path != "/" else path
    path = path.lstrip("/")
    query = urlencode(
        sorted(
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in _SECRET_QUERY_KEYS
        )
    )
    address = f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}/{path}"
    return f"{address}?{query}" if query else address


def same_camera_host(old_url: str, new_url: str) -> bool:
    """Whether two camera addresses name the same host (a stored password may follow)."""

    def host(url: str) -> str | None:
        try:
            return urlsplit(url.strip()).hostname
        except ValueError:
            return None

    old = host(old_url)
    return old is not None and old == host(new_url)


async def async_audit_reconfigure(hass: HomeAssistant, entry: ConfigEntry, new_url: str) -> None:
    """Log who moved a home to another camera address (never its credentials)."""
    trail = async_get_trail(hass)
    if trail is None:
        return
    await trail.async_append(
        "camera_reconfigured",
        at=dt_util.utcnow(),
        entry_id=entry.entry_id,
        home=entry.title,
        user_id=acting_user_id(),
        data={
            "from": camera_unique_id(str(entry.data.get(CONF_STREAM_URL, ""))),
            "to": camera_unique_id(new_url),
        },
    )


def home_with_camera(
    hass: HomeAssistant, url: str, *, except_entry: str | None = None
) -> ConfigEntry | None:
    """The home whose camera has this address (normalised; old entries compared the same way)."""
    wanted = camera_unique_id(url)
    for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
        if entry.entry_id == except_entry:
            continue
        if wanted in (entry.unique_id, camera_unique_id(str(entry.data.get(CONF_STREAM_URL, "")))):
            return entry
    return None


def equipment_in_other_homes(
    hass: HomeAssistant, equipment: dict[str, Any], *, except_entry: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Which entities another home uses already: ({field: error key}, {"home": its name})."""
    errors: dict[str, str] = {}
    homes: list[str] = []
    shared_on_purpose = bool(equipment.get(CONF_SHARED_EQUIPMENT))
    for key in EQUIPMENT_ENTITIES:
        entity_id = equipment.get(key)
        if not entity_id:
            continue
        for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
            if entry.entry_id == except_entry:
                continue
            if entity_id not in {entry.options.get(other) for other in EQUIPMENT_ENTITIES}:
                continue
            if key in SHAREABLE_EQUIPMENT and shared_on_purpose:
                continue
            errors[key] = "equipment_shared" if key in SHAREABLE_EQUIPMENT else f"{key}_shared"
            homes.append(entry.title)
            break
    return errors, ({"home": homes[0]} if homes else {})


def consent_schema(defaults: dict[str, Any], *, document_required: bool) -> vol.Schema:
    """Return the form of the consent step (config flow and options)."""
    document = vol.Required if document_required else vol.Optional
    return vol.Schema(
        {
            vol.Required(CONF_CONSENT_BY, default=defaults.get(CONF_CONSENT_BY, "resident")): (
                selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(CONSENT_BY_OPTIONS),
                        translation_key=CONF_CONSENT_BY,
                        mode=selector.SelectSelectorMode.LIST,
                    )
                )
            ),
            vol.Required(CONF_CO_RESIDENTS, default=defaults.get(CONF_CO_RESIDENTS, 0)): _number(
                0, MAX_CO_RESIDENTS
            ),
            vol.Required(
                CONF_CONSENT_DATE,
                default=defaults.get(CONF_CONSENT_DATE, dt_util.now().date().isoformat()),
            ): selector.DateSelector(),
            document(
                CONF_CONSENT_DOCUMENT,
                description={"suggested_value": defaults.get(CONF_CONSENT_DOCUMENT)},
            ): selector.TextSelector(),
            vol.Required(CONF_CONSENT, default=False): bool,
        }
    )


def validate_consent(
    user_input: dict[str, Any], entered_by: str | None, *, document_required: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the consent step's input into the consent record; return (record, errors).

    The record lists each consenting person by role (`resident` or `legal_representative` for
    the resident, one `co_resident` per close relative living there), the date, the document
    reference, who entered it and when.
    """
    errors: dict[str, str] = {}
    document = str(user_input.get(CONF_CONSENT_DOCUMENT) or "").strip()
    try:
        consented_on = date.fromisoformat(str(user_input.get(CONF_CONSENT_DATE)))
    except ValueError:
        consented_on = None
    if user_input.get(CONF_CONSENT) is not True:
        errors[CONF_CONSENT] = "consent_required"
    if consented_on is None or consented_on > dt_util.now().date():
        errors[CONF_CONSENT_DATE] = "consent_date_future"
    if document_required and not document:
        errors[CONF_CONSENT_DOCUMENT] = "document_required"
    elif _PERSONAL_NUMBER.search(document) or len(document) > 100:
        errors[CONF_CONSENT_DOCUMENT] = "document_invalid"
    consent_by = user_input.get(CONF_CONSENT_BY, "resident")
    if consent_by not in CONSENT_BY_OPTIONS:
        errors[CONF_CONSENT_BY] = "consent_required"
    if errors:
        return {}, errors
    co_residents = int(user_input.get(CONF_CO_RESIDENTS, 0))
    record = {
        "persons": [{"role": consent_by}] + [{"role": "co_resident"}] * co_residents,
        "date": consented_on.isoformat() if consented_on else None,
        "document": document or None,
        "entered_by": entered_by,
        "entered_at": dt_util.utcnow().isoformat(),
    }
    return record, {}


class HomeOptionSteps:
    """The schedule, equipment and operators steps, shared by the config and options flows.

    `_options` holds what is entered so far (the entry's options when editing); once the operators
    step is valid, `_async_options_done` decides what follows.
    """

    hass: HomeAssistant
    _options: dict[str, Any]
    async_show_form: Callable[..., ConfigFlowResult]

    async def _async_options_done(self) -> ConfigFlowResult:
        raise NotImplementedError

    def _own_entry_id(self) -> str | None:
        """The home being edited (options flow); None while a home is being added."""
        return None

    async def async_step_schedule(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the agreed times and how long looks, slots and follow-ups last."""
        errors: dict[str, str] = {}
        # Every message may name times; they are filled in when an error names them.
        placeholders = {"time": "", "first": "", "second": ""}
        if user_input is not None:
            options, errors = validate_schedule(user_input)
            if not errors:
                self._options |= options
                return await self.async_step_equipment()
            field = CONF_TIMES if CONF_TIMES in errors else CONF_PHYSICAL_TIMES
            placeholders |= schedule_placeholders(
                split_times(user_input.get(field)), int(user_input[CONF_SLOT_MINUTES])
            )
        return self.async_show_form(
            step_id="schedule",
            data_schema=schedule_schema(user_input or self._options),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_equipment(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the optional plug, power meter, bed sensor, router and privacy switch."""
        errors: dict[str, str] = {}
        placeholders = {"home": ""}
        if user_input is not None:
            if user_input.get(CONF_MQTT_PUBLISH) and not mqtt_publish.mqtt_set_up(self.hass):
                # Publishing goes through Home Assistant's MQTT integration: set that up first.
                errors[CONF_MQTT_PUBLISH] = "mqtt_not_set_up"
            else:
                # Another home's equipment would show that resident's bed, or hide a fault.
                errors, other = equipment_in_other_homes(
                    self.hass, user_input, except_entry=self._own_entry_id()
                )
                placeholders |= other
            if not errors:
                equipment = normalise_equipment(user_input)
                if not equipment[CONF_MQTT_PUBLISH] and CONF_MQTT_PUBLISH not in self._options:
                    # Off, as it always was (the default): not an option change to log.
                    del equipment[CONF_MQTT_PUBLISH]
                self._options |= equipment
                return await self.async_step_operators()
        return self.async_show_form(
            step_id="equipment",
            data_schema=equipment_schema(user_input or self._options),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_operators(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask who may look, and how long the audit log keeps the home's records."""
        errors: dict[str, str] = {}
        if user_input is not None:
            operators, error = await validate_operators(self.hass, user_input)
            if error:
                errors[CONF_OPERATORS] = error
            elif not retention_in_range(user_input):
                errors[CONF_AUDIT_RETENTION_MONTHS] = "retention_range"
            else:
                decision, errors = validate_decision(user_input)
            if not errors:
                self._options[CONF_OPERATORS] = operators
                self._options[CONF_AUDIT_RETENTION_MONTHS] = retention_months(user_input)
                # A field left empty clears it (an end date removed: the decision holds on).
                for key in (CONF_DECISION_REFERENCE, CONF_DECISION_END):
                    self._options.pop(key, None)
                self._options |= decision
                return await self._async_options_done()
        low, high = AUDIT_RETENTION_MONTHS_RANGE
        return self.async_show_form(
            step_id="operators",
            data_schema=await operators_schema(self.hass, user_input or self._options),
            errors=errors,
            description_placeholders={"low": str(low), "high": str(high)},
        )


class TrygghetskameraConfigFlow(HomeOptionSteps, ConfigFlow, domain=DOMAIN):
    """Add a home: camera, schedule, equipment, operators, consent."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._options: dict[str, Any] = {}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Return the options flow."""
        return TrygghetskameraOptionsFlow()

    @classmethod
    @callback
    @override
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Homes have options; a watch is set up once (remove and add it to change it)."""
        return is_home(config_entry)

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Start with the camera."""
        return await self.async_step_camera(user_input)

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Another installation's heartbeat was seen on the broker: offer to watch it."""
        installation = heartbeat.installation_of(discovery_info.topic)
        try:
            status = json.loads(discovery_info.payload) if discovery_info.payload else None
        except ValueError:
            status = None
        if installation is None or not isinstance(status, dict):
            return self.async_abort(reason="not_an_installation")
        if installation == await instance_id.async_get(self.hass):
            return self.async_abort(reason="own_installation")
        await self.async_set_unique_id(watch_unique_id(installation))
        self._abort_if_unique_id_configured()
        self._data = {
            CONF_KIND: KIND_WATCH,
            CONF_INSTALLATION_ID: installation,
            "installation_name": str(status.get("name") or installation),
            "homes": len(status.get("homes") or []),
        }
        self.context["title_placeholders"] = {"name": self._data["installation_name"]}
        return await self.async_step_watch()

    async def async_step_watch(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Watch the installation found: how long its heartbeat may be silent."""
        if user_input is not None:
            name = self._data.pop("installation_name")
            self._data.pop("homes", None)
            return self.async_create_entry(
                title=name,
                data=self._data,
                options={CONF_STALE_SECONDS: int(user_input[CONF_STALE_SECONDS])},
            )
        return self.async_show_form(
            step_id="watch",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_STALE_SECONDS, default=DEFAULT_STALE_SECONDS): _number(
                        *STALE_SECONDS_RANGE, unit="s"
                    )
                }
            ),
            description_placeholders={
                "installation": self._data["installation_name"],
                "installation_id": self._data[CONF_INSTALLATION_ID],
                "homes": str(self._data["homes"]),
            },
        )

    async def async_step_camera(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the label and the stream; try the camera before going on."""
        errors: dict[str, str] = {}
        placeholders = {"home": ""}
        if user_input is not None:
            user_input = {key: value for key, value in user_input.items() if value != ""}
            user_input[CONF_STREAM_URL] = user_input[CONF_STREAM_URL].strip()
            user_input[CONF_NAME] = user_input[CONF_NAME].strip()
            if error := validate_name(user_input[CONF_NAME]):
                errors[CONF_NAME] = error
            elif error := stream_url_error(user_input[CONF_STREAM_URL]):
                errors[CONF_STREAM_URL] = error
            elif other := home_with_camera(self.hass, user_input[CONF_STREAM_URL]):
                # Said here, naming the home, before anything else is filled in.
                errors[CONF_STREAM_URL] = "camera_in_use"
                placeholders["home"] = other.title
            else:
                await self.async_set_unique_id(camera_unique_id(user_input[CONF_STREAM_URL]))
                self._abort_if_unique_id_configured()
                if error := await async_probe(self.hass, user_input):
                    errors["base"] = error
                else:
                    self._data = user_input
                    return await self.async_step_schedule()
        defaults = {k: v for k, v in (user_input or {}).items() if k != CONF_PASSWORD}
        return self.async_show_form(
            step_id="camera",
            data_schema=camera_schema(defaults),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_options_done(self) -> ConfigFlowResult:
        return await self.async_step_consent()

    async def async_step_consent(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Record that the resident, and any close relative living there, consented."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_id = acting_user_id()
            record, errors = validate_consent(user_input, user_id, document_required=False)
            if not errors:
                self._data["consent_confirmed_at"] = dt_util.utcnow().isoformat()
                self._data["consent_confirmed_by"] = user_id
                self._data[CONSENT_RECORD] = record
                return self.async_create_entry(
                    title=self._data[CONF_NAME], data=self._data, options=self._options
                )
        return self.async_show_form(
            step_id="consent",
            data_schema=consent_schema(user_input or {}, document_required=False),
            errors=errors,
            description_placeholders={"name": self._data[CONF_NAME]},
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The camera refused the stored credentials (started by the home, which keeps running)."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the camera's new username and password; try them before saving them."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                key: value
                for key, value in entry.data.items()
                if key not in (CONF_USERNAME, CONF_PASSWORD)
            } | {key: value for key, value in user_input.items() if value != ""}
            if error := await async_probe(self.hass, data):
                errors["base"] = error
            else:
                # Saved without a reload, so the running night keeps its state; the home's own
                # probe (logged, with who) then clears its camera fault at once.
                self.hass.config_entries.async_update_entry(entry, data=data)
                if entry.state is ConfigEntryState.LOADED:
                    await entry.runtime_data.async_probe_camera(acting_user_id())
                return self.async_abort(reason="reauth_successful")
        username = (user_input or entry.data).get(CONF_USERNAME)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(
                        CONF_USERNAME, description={"suggested_value": username}
                    ): selector.TextSelector(selector.TextSelectorConfig(autocomplete="username")),
                    vol.Optional(CONF_PASSWORD): selector.TextSelector(
                        selector.TextSelectorConfig(
                            type=selector.TextSelectorType.PASSWORD,
                            autocomplete="current-password",
                        )
                    ),
                }
            ),
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the stream URL or credentials; the camera is tried again."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders = {"name": entry.title, "home": ""}
        if user_input is not None:
            user_input = {key: value for key, value in user_input.items() if value != ""}
            user_input[CONF_STREAM_URL] = user_input[CONF_STREAM_URL].strip()
            # An empty password field keeps the stored one: it is never shown back, and never
            # sent to a host other than the one it was entered for (the form asks again).
            keep_password = CONF_PASSWORD not in user_input and bool(entry.data.get(CONF_PASSWORD))
            same_host = same_camera_host(
                str(entry.data.get(CONF_STREAM_URL, "")), user_input[CONF_STREAM_URL]
            )
            if keep_password and same_host:
                user_input[CONF_PASSWORD] = entry.data[CONF_PASSWORD]
            if error := stream_url_error(user_input[CONF_STREAM_URL]):
                errors[CONF_STREAM_URL] = error
            elif keep_password and not same_host:
                errors[CONF_PASSWORD] = "password_for_new_host"
            else:
                unique_id = camera_unique_id(user_input[CONF_STREAM_URL])
                other = home_with_camera(
                    self.hass, user_input[CONF_STREAM_URL], except_entry=entry.entry_id
                )
                if other is not None:
                    errors[CONF_STREAM_URL] = "camera_in_use"
                    placeholders["home"] = other.title
                elif error := await async_probe(self.hass, user_input):
                    errors["base"] = error
                else:
                    data = {
                        key: value
                        for key, value in entry.data.items()
                        if key not in (CONF_USERNAME, CONF_PASSWORD, CONF_ONVIF_PORT)
                    }
                    await async_audit_reconfigure(self.hass, entry, user_input[CONF_STREAM_URL])
                    # The reason named: Home Assistant's default would show its generic
                    # "Reconfiguration was successful" instead of "commission it again".
                    return self.async_update_reload_and_abort(
                        entry,
                        unique_id=unique_id,
                        data=data | user_input,
                        reason="reconfigure_successful",
                    )
        defaults = user_input or dict(entry.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=camera_schema(defaults, with_name=False),
            errors=errors,
            description_placeholders=placeholders,
        )


def retention_in_range(user_input: dict[str, Any]) -> bool:
    """Whether the retention entered is whole months within the contract's range."""
    value = user_input.get(CONF_AUDIT_RETENTION_MONTHS, DEFAULT_AUDIT_RETENTION_MONTHS)
    low, high = AUDIT_RETENTION_MONTHS_RANGE
    return isinstance(value, int | float) and value == int(value) and low <= value <= high


def retention_months(user_input: dict[str, Any]) -> int:
    """How many months the audit log keeps this home's records (the form bounds the value)."""
    return int(user_input.get(CONF_AUDIT_RETENTION_MONTHS, DEFAULT_AUDIT_RETENTION_MONTHS))


def normalise_equipment(user_input: dict[str, Any]) -> dict[str, Any]:
    """Turn the equipment form into options: unset entities become None."""
    options: dict[str, Any] = {key: user_input.get(key) or None for key in EQUIPMENT_ENTITIES}
    options[CONF_MIN_POWER_W] = float(user_input.get(CONF_MIN_POWER_W, DEFAULT_MIN_POWER_W))
    options[CONF_MQTT_PUBLISH] = bool(user_input.get(CONF_MQTT_PUBLISH, False))
    return options


async def validate_operators(
    hass: HomeAssistant, user_input: dict[str, Any]
) -> tuple[list[str], str | None]:
    """Keep only real, active users; at least one must be chosen."""
    chosen = list(dict.fromkeys(user_input.get(CONF_OPERATORS, [])))
    if not chosen:
        return [], "operators_required"
    allowed = {option["value"] for option in await _operator_choices(hass)}
    if any(user_id not in allowed for user_id in chosen):
        return [], "unknown_user"
    return chosen, None


class TrygghetskameraOptionsFlow(HomeOptionSteps, OptionsFlow):
    """Edit a home's schedule, equipment and operators."""

    def __init__(self) -> None:
        """Start from the entry's current options."""
        self._options: dict[str, Any] = {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Begin with the schedule; with consent withdrawn, offer to record it given again."""
        self._options = dict(self.config_entry.options)
        if self._consent_withdrawn():
            return self.async_show_menu(step_id="init", menu_options=["consent", "schedule"])
        return await self.async_step_schedule()

    @override
    def _own_entry_id(self) -> str | None:
        return self.config_entry.entry_id

    def _consent_withdrawn(self) -> bool:
        entry = self.config_entry
        return entry.state is ConfigEntryState.LOADED and not entry.runtime_data.supervisor.consent

    async def async_step_consent(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Consent given again: recorded with who consented, when, on what, and by which admin."""
        user_id = acting_user_id()
        user = await self.hass.auth.async_get_user(user_id) if user_id else None
        # Home Assistant opens options flows to admins only; without a known admin, nothing.
        if user is None or not user.is_admin:
            return self.async_abort(reason="consent_admin_only")
        if not self._consent_withdrawn():
            return self.async_abort(reason="consent_not_withdrawn")
        errors: dict[str, str] = {}
        if user_input is not None:
            record, errors = validate_consent(user_input, user_id, document_required=True)
            if not errors:
                entry = self.config_entry
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONSENT_RECORD: record}
                )
                await entry.runtime_data.async_give_consent(record, user_id)
                return self.async_create_entry(data=dict(entry.options))
        return self.async_show_form(
            step_id="consent",
            data_schema=consent_schema(user_input or {}, document_required=True),
            errors=errors,
            description_placeholders={"name": self.config_entry.title},
        )

    async def _async_options_done(self) -> ConfigFlowResult:
        """After the operators, what a look shows."""
        return await self.async_step_view()

    async def async_step_view(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the sensor view (full, bed area, silhouette) and the bed area."""
        errors: dict[str, str] = {}
        if user_input is not None:
            view, errors = validate_view(user_input)
            if not errors:
                # Only what changed is written, so an unchanged default is not logged as a change.
                current_mode = self._options.get(CONF_VIEW_MODE) or view_filter.DEFAULT_VIEW_MODE
                if view[CONF_VIEW_MODE] != current_mode:
                    self._options[CONF_VIEW_MODE] = view[CONF_VIEW_MODE]
                if view[CONF_VIEW_REGION] != self._options.get(CONF_VIEW_REGION):
                    self._options[CONF_VIEW_REGION] = view[CONF_VIEW_REGION]
                return await self._async_save()
        return self.async_show_form(
            step_id="view", data_schema=view_schema(user_input or self._options), errors=errors
        )

    async def _async_save(self) -> ConfigFlowResult:
        """Save the edited options; the audit log records who changed what."""
        # Only this request knows who the user is; the runtime logs the change with it.
        if self.config_entry.state is ConfigEntryState.LOADED:
            self.config_entry.runtime_data.options_changed_by = acting_user_id()
        return self.async_create_entry(data=self._options)
