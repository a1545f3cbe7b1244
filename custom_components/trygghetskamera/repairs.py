"""Repair flows: re-anchoring an audit log that no longer holds its kept head.

Home Assistant offers the flow to administrators only (its repairs views require an admin); the
flow checks that again for the user whose request runs it, and asks for a note of the incident
(who found it, when, why the log was replaced) that goes into the log with the lost head.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig
import voluptuous as vol

from .audit_trail import HEAD_LOST_ISSUE, acting_user_id, async_get_trail

INCIDENT = "incident"
# Long enough to say who, when and why; a word such as "ok" is not a note of an incident.
MIN_INCIDENT_CHARS = 20
MAX_INCIDENT_CHARS = 2000


class ReanchorAuditLogFlow(RepairsFlow):
    """Record the loss of the kept head with a note and anchor the log anew."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Start at the confirmation form."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the incident note; re-anchor the log once it is given by an admin."""
        trail = async_get_trail(self.hass)
        if trail is None or trail.head_lost is None:
            return self.async_abort(reason="head_not_lost")
        lost = trail.head_lost
        errors: dict[str, str] = {}
        if user_input is not None:
            user_id = acting_user_id()
            user = await self.hass.auth.async_get_user(user_id) if user_id else None
            if user is None or not user.is_admin:
                return self.async_abort(reason="admin_only")
            incident = " ".join(str(user_input.get(INCIDENT, "")).split())
            if len(incident) < MIN_INCIDENT_CHARS:
                errors[INCIDENT] = "incident_too_short"
            else:
                await trail.async_reanchor(user.id, incident[:MAX_INCIDENT_CHARS])
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema(
                {vol.Required(INCIDENT): TextSelector(TextSelectorConfig(multiline=True))}
            ),
            errors=errors,
            description_placeholders={
                "kept_seq": str(lost["kept_head"].get("seq", "")),
                "db_seq": str((lost["db_head"] or {}).get("seq", 0)),
                "reason": str(lost["reason"]),
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of a fixable issue of this integration."""
    if issue_id == HEAD_LOST_ISSUE:
        return ReanchorAuditLogFlow()
    raise ValueError(f"{issue_id} has no fix flow")
