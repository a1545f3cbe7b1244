"""Start a real Home Assistant with trygghetskamera and one demo home, without camera hardware.

Run it through `scripts/develop` (which bootstraps `.venv` first and runs `python -m scripts.demo`
from the repository root). Everything it makes lives in `.demo/` (gitignored): the Home Assistant
configuration, the MQTT broker's configuration and log (`broker/`), the simulators' output, and
the credentials of the demo users, the broker and the camera.

It runs the topology of a deployment: the home's camera, a simulated network camera
(`simulators/camera.py`, a process of its own) serving a generated bedroom at night as MJPEG over
HTTP with a password; an MQTT broker (Debian's mosquitto, or amqtt from PyPI where mosquitto is
missing, as `Broker.start_best` picks); and the home's hub, a simulated Zigbee2MQTT
(`simulators/hub.py`, a process of its own) whose discovery messages give Home Assistant the plug,
power, bed and connectivity entities. They start before Home Assistant and stop after it.

The demo is set up the way an installer would do it, through Home Assistant's own HTTP and
websocket API: onboarding creates the admin, the admin creates an operator, the MQTT integration is
set up against the broker with its config flow, and the demo home is added with the integration's
real config flow: the camera step tries the camera's stream, the equipment step is given the
discovered entities. Later starts reuse all of it (a camera or broker that had to move to another
port is reconfigured through the flows).

The package: `config` (settings, the config dir, credentials), `processes` (Home Assistant, the
broker, the hub, the camera), `client` (Home Assistant's API), `onboarding` (setting it all up and
checking it), `report` (the closing print), `__main__` (the order of things).
While it runs, commands typed in its terminal (`plug off`, `power 0.3`, `bed empty`, `hub kill`,
`hub start`, …) play the faults a home has.

    scripts/develop                 # foreground until Ctrl-C, on http://127.0.0.1:8123/
    scripts/develop --port 0        # any free port
    scripts/develop --check         # start, set up, verify, stop (exit 0 when all is well)
"""

from .client import HomeAssistant, deadline, poll
from .config import (
    DOMAIN,
    HOME_NAME,
    USERS_GROUP,
    Account,
    DemoError,
    Paths,
    free_port,
    link_integration,
    new_password,
    write_configuration,
    write_http_config,
)
from .onboarding import check_frontend_can_load, ensure_operator, onboard, wait_until_running
from .processes import CameraProcess, Hass, HubProcess, tail

# What other code (the panel's browser test) uses to run a Home Assistant as the demo does.
__all__ = [
    "DOMAIN",
    "HOME_NAME",
    "USERS_GROUP",
    "Account",
    "CameraProcess",
    "DemoError",
    "Hass",
    "HomeAssistant",
    "HubProcess",
    "Paths",
    "check_frontend_can_load",
    "deadline",
    "ensure_operator",
    "free_port",
    "link_integration",
    "new_password",
    "onboard",
    "poll",
    "tail",
    "wait_until_running",
    "write_configuration",
    "write_http_config",
]
