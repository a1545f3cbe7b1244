"""Shared fixtures: real H.264 media made by the tests, real users, a configured home."""

from collections.abc import Awaitable, Callable, Iterator
import itertools
import logging
from pathlib import Path
from typing import Any

from homeassistant.auth.models import User
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

# The harness ships its own `custom_components` package; importing ours first makes Home
# Assistant find this integration instead.
import custom_components.trygghetskamera  # noqa: F401
from custom_components.trygghetskamera import media
from custom_components.trygghetskamera.const import (
    CONF_AUDIT_RETENTION_MONTHS,
    CONF_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS,
    CONF_MIN_POWER_W,
    CONF_NAME,
    CONF_OPERATORS,
    CONF_SLOT_MINUTES,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_VIEW_SECONDS,
    DOMAIN,
    EQUIPMENT_ENTITIES,
)
from simulators import scenes
from simulators.camera import MjpegServer

# The harness's pytest plugin (a copy of Home Assistant core's conftest) turns SQLAlchemy's
# statement log on when it is imported: `sqlalchemy.engine` at INFO, under a root handler on
# stderr. The recorder's thread then logs every statement it runs, and what it logs between
# pytest's capture phases lands in the test run's output. No test here reads SQL.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom integrations in every test."""


@pytest.fixture(autouse=True)
def live_camera_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let each probe of a test video see a later moment of it, as on a live camera.

    A file plays a camera by showing the frame at wall-clock time modulo its length; under
    `freezer`, probes a whole number of hours apart would all see the same frame and call a
    moving room frozen. Each read of this clock is 2.9 s later instead.
    """
    ticks = itertools.count()
    monkeypatch.setattr(media, "_wall_clock", lambda: next(ticks) * 2.9)


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give every test its own config directory: the audit log lives there."""
    return hass_tmp_config_dir


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of test videos, generated once per run."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def night_video(media_dir: Path) -> Path:
    """A real H.264 file: a dim bedroom at night with slow movement."""
    path = media_dir / "night.mp4"
    scenes.generate_night_scene(path, seconds=6, fps=10, size=(320, 240))
    return path


@pytest.fixture(scope="session")
def black_video(media_dir: Path) -> Path:
    """A real H.264 file that shows only black (lens covered, no IR)."""
    path = media_dir / "black.mp4"
    scenes.generate_black_video(path, seconds=2, fps=10, size=(320, 240))
    return path


@pytest.fixture
def network_camera(socket_enabled: None) -> Iterator[MjpegServer]:
    """A real MJPEG camera over HTTP showing the night room, for the flows (small: quick to start).

    The flows take only network cameras; entries made directly may play the videos above.
    """
    with MjpegServer(seconds=2, size=(320, 240)) as server:
        yield server


def home_options(operators: list[str], **overrides: Any) -> dict[str, Any]:
    """Options of a typical home: three agreed times through the night."""
    options: dict[str, Any] = {
        CONF_TIMES: ["22:30", "01:30", "04:30"],
        CONF_VIEW_SECONDS: 30,
        CONF_SLOT_MINUTES: 30,
        CONF_FOLLOW_UP_MINUTES: 20,
        CONF_FOLLOW_UPS: 1,
        CONF_OPERATORS: operators,
        CONF_MIN_POWER_W: 1.0,
        CONF_AUDIT_RETENTION_MONTHS: 24,
        # The patrol's loop, at its defaults (all agreed times digital).
        "physical_times": [],
        "ack_minutes": 10,
        "urgent_ack_minutes": 5,
        "response_minutes": 45,
    } | dict.fromkeys(EQUIPMENT_ENTITIES)
    return options | overrides


def make_home_entry(stream_url: str, operators: list[str], **overrides: Any) -> MockConfigEntry:
    """A config entry for one home, as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id=stream_url,
        data={CONF_NAME: "Lgh 1203", CONF_STREAM_URL: stream_url},
        options=home_options(operators, **overrides),
    )


@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory, to prove nothing is written beside it."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


CLIENT_ID = "https://nattpatrull.example/"


class Person:
    """A real Home Assistant user with a login (refresh and access token)."""

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token


@pytest.fixture
async def make_person(
    hass: HomeAssistant, hass_owner_user: User
) -> Callable[..., Awaitable[Person]]:
    """Staff with their own logins (the owner exists first, so nobody else becomes it)."""

    async def make(name: str, *, admin: bool = False) -> Person:
        group = "system-admin" if admin else "system-users"
        user = await hass.auth.async_create_user(name, group_ids=[group])
        refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
        return Person(user, hass.auth.async_create_access_token(refresh))

    return make


@pytest.fixture
async def operator(make_person: Callable[..., Awaitable[Person]]) -> Person:
    """An operator of the night staff with a login."""
    return await make_person("Nattpersonal")
