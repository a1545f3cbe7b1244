"""Data exposure: a repair issue while Home Assistant's recorder keeps a home's sensitive history.

Every Home Assistant user can read History and Logbook. For a home, the history of its `status`
sensor, its `visit_required` binary sensor and its bed sensor says when the resident was in bed
and when a visit was needed. The integration keeps its own sensitive attributes out of the
recorder (`_unrecorded_attributes`), but the states themselves are recorded unless the
installation excludes them: this module raises a repair issue per home that names the entities
and gives the `recorder: exclude:` lines to add to `configuration.yaml`.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .const import CONF_BED_ENTITY, DOMAIN

# The home's own entities whose history is sensitive: (platform, key).
SENSITIVE: tuple[tuple[str, str], ...] = (("sensor", "status"), ("binary_sensor", "visit_required"))


def recorder_issue_id(entry_id: str) -> str:
    """The repair issue of a home whose sensitive history the recorder keeps."""
    return f"recorder_keeps_history_{entry_id}"


def sensitive_entities(hass: HomeAssistant, entry: ConfigEntry) -> list[str]:
    """The entity ids whose history tells about the resident's nights."""
    registry = er.async_get(hass)
    found = [
        entity_id
        for platform, key in SENSITIVE
        if (entity_id := registry.async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}"))
    ]
    if bed := entry.options.get(CONF_BED_ENTITY):
        found.append(str(bed))
    return found


@callback
def async_check_recorder(hass: HomeAssistant, entry: ConfigEntry) -> list[str]:
    """Raise (or close) the home's repair issue; return the entities the recorder keeps."""
    recorded: list[str] = []
    if "recorder" in hass.config.components:
        from homeassistant.components.recorder import get_instance

        keeps = get_instance(hass).entity_filter
        recorded = [e for e in sensitive_entities(hass, entry) if keeps is None or keeps(e)]
    issue_id = recorder_issue_id(entry.entry_id)
    if not recorded:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return recorded
    yaml = "\n".join(
        ["recorder:", "  exclude:", "    entities:", *(f"      - {e}" for e in recorded)]
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="recorder_keeps_history",
        translation_placeholders={
            "name": entry.title,
            "entities": ", ".join(recorded),
            "yaml": yaml,
        },
        learn_more_url=(
            "https://github.com/trygghetskamera/trygghetskamera/blob/main/docs/operations.md"
            "#what-is-stored-where"
        ),
    )
    return recorded
