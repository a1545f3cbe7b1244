"""Constants of the trygghetskamera integration: the names of the public contract."""

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

DOMAIN: Final = "trygghetskamera"

# Config entry data.
CONF_NAME: Final = "name"
CONF_STREAM_URL: Final = "stream_url"
CONF_USERNAME: Final = "username"
CONF_PASSWORD: Final = "password"
CONF_CONSENT_CONFIRMED: Final = "consent_confirmed"
# Who consented (their roles), when, on what document, and who entered it (config entry data).
CONSENT_RECORD: Final = "consent_record"
CONSENT_ROLES: Final = ("resident", "co_resident", "legal_representative")
# The camera's ONVIF port (same host and credentials as the stream), or absent: see onvif_keyframe.
CONF_ONVIF_PORT: Final = "onvif_port"

# Config entry options.
CONF_TIMES: Final = "times"
CONF_VIEW_SECONDS: Final = "view_seconds"
CONF_SLOT_MINUTES: Final = "slot_minutes"
CONF_FOLLOW_UP_MINUTES: Final = "follow_up_minutes"
CONF_FOLLOW_UPS: Final = "follow_ups"
CONF_OPERATORS: Final = "operators"
CONF_PRIVACY_ENTITY: Final = "privacy_entity"
CONF_PLUG_ENTITY: Final = "plug_entity"
CONF_POWER_ENTITY: Final = "power_entity"
CONF_MIN_POWER_W: Final = "min_power_w"
CONF_BED_ENTITY: Final = "bed_entity"
CONF_CONNECTIVITY_ENTITY: Final = "connectivity_entity"
CONF_VIEW_MODE: Final = "view_mode"
CONF_VIEW_REGION: Final = "view_region"
CONF_MQTT_PUBLISH: Final = "mqtt_publish"
CONF_AUDIT_RETENTION_MONTHS: Final = "audit_retention_months"
# The patrol's loop (docs/contract.md, "Visits").
CONF_PHYSICAL_TIMES: Final = "physical_times"
CONF_ACK_MINUTES: Final = "ack_minutes"
CONF_URGENT_ACK_MINUTES: Final = "urgent_ack_minutes"
CONF_RESPONSE_MINUTES: Final = "response_minutes"
# The decision period (docs/contract.md, "Options"): the *biståndsbeslut* and when it ends.
CONF_DECISION_REFERENCE: Final = "decision_reference"
CONF_DECISION_END: Final = "decision_end"
# A repair issue warns this many days before a home's decision ends.
DECISION_WARN_DAYS: Final = 14

EQUIPMENT_ENTITIES: Final = (
    CONF_PRIVACY_ENTITY,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    CONF_BED_ENTITY,
    CONF_CONNECTIVITY_ENTITY,
)

# Defaults and ranges (docs/contract.md, "Options").
DEFAULT_VIEW_SECONDS: Final = 30
DEFAULT_SLOT_MINUTES: Final = 30
DEFAULT_FOLLOW_UP_MINUTES: Final = 20
DEFAULT_FOLLOW_UPS: Final = 1
DEFAULT_MIN_POWER_W: Final = 1.0
DEFAULT_AUDIT_RETENTION_MONTHS: Final = 24
AUDIT_RETENTION_MONTHS_RANGE: Final = (1, 120)
VIEW_SECONDS_RANGE: Final = (10, 120)
SLOT_MINUTES_RANGE: Final = (5, 120)
FOLLOW_UP_MINUTES_RANGE: Final = (1, 60)
FOLLOW_UPS_RANGE: Final = (0, 3)
DEFAULT_ACK_MINUTES: Final = 10
DEFAULT_URGENT_ACK_MINUTES: Final = 5
DEFAULT_RESPONSE_MINUTES: Final = 45
ACK_MINUTES_RANGE: Final = (1, 60)
RESPONSE_MINUTES_RANGE: Final = (5, 240)

# How long the config flow waits for the camera's first frame.
PROBE_TIMEOUT_S: Final = 10.0

# Bus events.
EVENT_VISIT_REQUIRED: Final = f"{DOMAIN}_visit_required"
EVENT_VISIT_CLEARED: Final = f"{DOMAIN}_visit_cleared"
EVENT_NIGHT_REPORT: Final = f"{DOMAIN}_night_report"
EVENT_HOME_REMOVED: Final = f"{DOMAIN}_home_removed"
EVENT_VISIT_ACKNOWLEDGED: Final = f"{DOMAIN}_visit_acknowledged"
EVENT_VISIT_ESCALATED: Final = f"{DOMAIN}_visit_escalated"
EVENT_VISIT_OVERDUE: Final = f"{DOMAIN}_visit_overdue"

# Services.
SERVICE_VISIT_DONE: Final = "visit_done"
SERVICE_VISIT_ACKNOWLEDGE: Final = "visit_acknowledge"
SERVICE_SKIP_NIGHT: Final = "skip_night"
SERVICE_UNSKIP_NIGHT: Final = "unskip_night"
SERVICE_PROBE_CAMERA: Final = "probe_camera"
SERVICE_AUDIT_LOG: Final = "audit_log"
# Homes not running, with the watchdog's visits (for the morning summary).
SERVICE_HOMES_NOT_RUNNING: Final = "homes_not_running"

ATTR_DEVICE_ID: Final = "device_id"
ATTR_NOTE: Final = "note"
ATTR_DATE: Final = "date"
ATTR_VISIT_ID: Final = "visit_id"

# The watch: a second kind of config entry (docs/contract.md, "Installation heartbeat").
CONF_KIND: Final = "kind"
KIND_WATCH: Final = "watch"
CONF_INSTALLATION_ID: Final = "installation_id"
CONF_STALE_SECONDS: Final = "stale_seconds"
DEFAULT_STALE_SECONDS: Final = 90
STALE_SECONDS_RANGE: Final = (45, 3600)
EVENT_INSTALLATION_RECOVERED: Final = f"{DOMAIN}_installation_recovered"


def is_home(entry: ConfigEntry) -> bool:
    """Whether a config entry is a home (and not a watch of another installation)."""
    return entry.data.get(CONF_KIND) != KIND_WATCH
