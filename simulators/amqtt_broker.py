"""amqtt (PyPI) as the demo's fallback broker when Debian's mosquitto is not installed.

Run by ``Broker.start_best`` as ``python -m simulators.amqtt_broker --port P --username U`` with
the password in ``SIMULATORS_BROKER_PASSWORD``: one listener on loopback, no anonymous logins
(a single user checked by the plugin below), no ``$SYS`` topics. Written against amqtt 0.12,
whose plugins are dataclass-configured classes named by their dotted path.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import hmac
import logging
import os
from pathlib import Path
import signal

from amqtt.broker import Broker as AmqttBroker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from simulators.child import PASSWORD_ENV

AUTH_PLUGIN = "simulators.amqtt_broker.SingleUserAuthPlugin"


class SingleUserAuthPlugin(BaseAuthPlugin):
    """Accept exactly one username and password (compared in constant time); nobody else."""

    @dataclass
    class Config:
        """The one account; the password comes from the environment, never from argv."""

        username: str = ""
        password: str = ""

    async def authenticate(self, *, session: Session) -> bool:
        """True only for the configured username and password."""
        wanted_user = self.config.username.encode()
        wanted_password = self.config.password.encode()
        user = (session.username or "").encode()
        password = (session.password or "").encode()
        return bool(wanted_user) and (
            hmac.compare_digest(user, wanted_user) & hmac.compare_digest(password, wanted_password)
        )


async def serve(host: str, port: int, username: str, password: str) -> None:
    """Run the broker until SIGTERM or SIGINT."""
    broker = AmqttBroker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {AUTH_PLUGIN: {"username": username, "password": password}},
        }
    )
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m simulators.amqtt_broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--workdir", type=Path, default=Path())
    args = parser.parse_args()
    logging.basicConfig(
        filename=args.workdir / "amqtt.log",
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args.host, args.port, args.username, os.environ.get(PASSWORD_ENV, "")))


if __name__ == "__main__":
    main()
