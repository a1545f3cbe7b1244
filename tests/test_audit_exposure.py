"""Data exposure: what History and Logbook would show every user, and the repair issue for it."""

import logging
from pathlib import Path
from typing import Any

from homeassistant.auth.models import User
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.exposure import recorder_issue_id

from .conftest import make_home_entry


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Home Assistant's recorder (in-memory SQLite) is set up before Home Assistant starts."""


async def add_home(hass: HomeAssistant, url: str, operator: str, **options: Any) -> Any:
    entry = make_home_entry(url, [operator], **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_a_recorded_home_gets_a_repair_issue_with_the_exclude_to_add(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User
) -> None:
    entry = await add_home(
        hass, str(night_video), hass_admin_user.id, bed_entity="binary_sensor.sang_1203"
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, recorder_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "recorder_keeps_history"
    placeholders = issue.translation_placeholders or {}
    recorded = placeholders["entities"].split(", ")
    assert any(e.startswith("sensor.") for e in recorded)
    assert any(e.startswith("binary_sensor.") and "sang" not in e for e in recorded)
    assert "binary_sensor.sang_1203" in recorded
    assert placeholders["yaml"].startswith("recorder:\n  exclude:\n    entities:\n")
    # Removing the home closes its issue.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, recorder_issue_id(entry.entry_id)) is None


@pytest.mark.parametrize(
    "recorder_config", [{"exclude": {"entity_globs": ["sensor.lgh_1203_*", "binary_sensor.*"]}}]
)
async def test_an_excluded_home_has_no_issue(
    hass: HomeAssistant, night_video: Path, hass_admin_user: User
) -> None:
    entry = await add_home(hass, str(night_video), hass_admin_user.id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, recorder_issue_id(entry.entry_id)) is None


async def test_the_recorder_writes_without_logging_its_sql(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """The harness's plugin sets `sqlalchemy.engine` to INFO; tests/conftest.py sets it back.

    Else every statement of the recorder's thread is logged, and what it logs between pytest's
    capture phases lands in the test run's output.
    """
    caplog.set_level(logging.INFO)
    hass.states.async_set("sensor.recorded", "1")
    await async_wait_recording_done(hass)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy")] == []
