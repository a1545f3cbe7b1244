"""The audit log's head leaves the machine: retained over MQTT with every seal (real mosquitto)."""

import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import instance_id
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL, audit_head_topic
from custom_components.trygghetskamera.const import DOMAIN
from simulators.subscriber import Subscriber

from .conftest import make_home_entry
from .mqtt_fixtures import (  # the fixture_* functions are pytest fixtures used by name
    fixture_broker,  # noqa: F401
    fixture_configuration_yaml,  # noqa: F401
    fixture_mqtt_entry,  # noqa: F401
    fixture_subscriber,  # noqa: F401
    wait_for,
)


async def test_each_seal_is_published_retained_as_the_installations_audit_head(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
    night_video: Path,
    hass_admin_user: User,
) -> None:
    entry = make_home_entry(str(night_video), [hass_admin_user.id], mqtt_publish=True)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    topic = audit_head_topic(await instance_id.async_get(hass))
    assert topic.startswith(f"{DOMAIN}/installation/")
    assert topic.endswith("/audit_head")

    head = await hass.services.async_call(
        DOMAIN,
        "audit_seal",
        {},
        blocking=True,
        return_response=True,
        context=Context(hass_admin_user.id),
    )

    # A board that starts afterwards reads the head at once: it is retained.
    board: Subscriber = subscriber(topic)
    await wait_for(hass, freezer, lambda: bool(board.on(topic)), "the retained audit head")
    (message,) = board.on(topic)
    assert message["retain"] is True
    assert json.loads(message["payload"]) == head
    log = hass.data[AUDIT_TRAIL].log
    assert await hass.async_add_executor_job(lambda: log.verify(head=(head["seq"], head["hash"])))
