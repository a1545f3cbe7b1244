"""Diagnostics: the home's options and state, with credentials and personal data redacted."""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import CONF_PASSWORD, CONF_STREAM_URL, CONF_USERNAME, is_home
from .runtime import TrygghetskameraConfigEntry

TO_REDACT = {CONF_PASSWORD, CONF_USERNAME, "consent_confirmed_by"}


def redact_stream_url(url: object) -> str:
    """The camera's scheme, host, port and path only.

    User info, the query string, the fragment and `;params` are dropped, not filtered: a
    camera may carry its password under any name (`pwd`, `auth`, `;password=`).
    """
    if not isinstance(url, str):
        return "<invalid>"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<invalid>"
    if not parts.scheme or not parts.netloc:
        return url  # a local file of the tests and the demo: nothing secret in a path
    netloc = f"[{host}]" if host and ":" in host else host or ""
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = ";".join(parts.path.split(";")[:1])
    return urlunsplit((parts.scheme, netloc, path, "", ""))


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: TrygghetskameraConfigEntry
) -> dict[str, Any]:
    """Return what an installer needs to understand a home's state; never a secret or frame."""
    if not is_home(entry):
        return _watch_diagnostics(entry)
    data = async_redact_data(dict(entry.data), TO_REDACT)
    data[CONF_STREAM_URL] = redact_stream_url(entry.data[CONF_STREAM_URL])
    diagnostics: dict[str, Any] = {"data": data, "options": dict(entry.options), "state": None}
    # A home that failed to start has no runtime, and is when an installer needs this most.
    if entry.state is not ConfigEntryState.LOADED:
        return diagnostics
    runtime = entry.runtime_data
    now = runtime.now()
    supervisor = runtime.supervisor
    next_supervision = supervisor.next_supervision(now)
    return diagnostics | {
        "state": {
            "status": str(supervisor.status(now)),
            "consent": supervisor.consent,
            "commissioned": supervisor.commissioned,
            "commissioning_missing": runtime.commissioning_missing,
            "faults": sorted(supervisor.faults),
            "visit_required": supervisor.visit_required,
            "open_visits": len(supervisor.open_visits),
            "next_supervision": next_supervision.isoformat() if next_supervision else None,
        },
    }


def _watch_diagnostics(entry: ConfigEntry[Any]) -> dict[str, Any]:
    """A watch of another installation: what it watches, and whether that one is down."""
    diagnostics: dict[str, Any] = {"data": dict(entry.data), "options": dict(entry.options)}
    if entry.state is ConfigEntryState.LOADED:
        watch = entry.runtime_data
        diagnostics["state"] = {
            "down_since": watch.down_since.isoformat() if watch.down_since else None,
            "down_reason": watch.down_reason,
            "last_seen": watch.last_seen.isoformat() if watch.last_seen else None,
            "homes": len(watch.plan.get("homes") or []),
            "raised": len(watch.raised),
            "will_topic": watch.will_followed,
        }
    return diagnostics
