"""Diagnostics: the home's options and state, with credentials and personal data redacted."""

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from . import media
from .const import CONF_PASSWORD, CONF_STREAM_URL, CONF_USERNAME
from .runtime import TrygghetskameraConfigEntry

TO_REDACT = {CONF_PASSWORD, CONF_USERNAME, "consent_confirmed_by"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: TrygghetskameraConfigEntry
) -> dict[str, Any]:
    """Return what an installer needs to understand a home's state; never a secret or frame."""
    data = async_redact_data(dict(entry.data), TO_REDACT)
    data[CONF_STREAM_URL] = media.redact_url(entry.data[CONF_STREAM_URL])
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
