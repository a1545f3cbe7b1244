"""Run the demo: ``python -m scripts.demo`` from the repository root (``scripts/develop`` does)."""

import argparse
import asyncio
from pathlib import Path
import signal
import sys
import threading
import time

import aiohttp

from .client import HomeAssistant
from .config import (
    CAMERA_USER,
    DEFAULT_CONFIG,
    RESTART_EXIT_CODE,
    Account,
    DemoError,
    Paths,
    PortTaken,
    Timings,
    ensure_port_free,
    free_port,
    link_integration,
    load_credentials,
    new_password,
    save_credentials,
    write_configuration,
    write_http_config,
)
from .onboarding import (
    Demo,
    bootstrap,
    check_camera,
    check_no_fault,
    check_operator_login,
    check_plug_round_trip,
)
from .processes import CameraProcess, Hass, HubProcess, read_commands, start_broker, tail
from .report import report

# With --port 0: if something takes the chosen port before Home Assistant binds it, another.
PORT_ATTEMPTS = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description=(
            "Start a real Home Assistant with trygghetskamera and one demo home, without camera"
            " hardware."
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="Home Assistant config dir (default .demo/config); credentials.json goes beside it",
    )
    parser.add_argument(
        "--port", type=int, default=8123, help="HTTP port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="start, set up and verify the demo, then stop Home Assistant and exit",
    )
    return parser.parse_args(argv)


async def bring_up(
    hass: Hass,
    port: int,
    timings: Timings,
    *,
    bootstrap_demo: bool,
    accounts: dict[str, Account] | None = None,
    hub: HubProcess | None = None,
    camera: CameraProcess | None = None,
    check: bool = False,
) -> Demo | None:
    """Wait for the API to answer, then (unless only restarting) bootstrap and verify."""
    assert hass.process is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        ha = HomeAssistant(session, port)
        await ha.wait_for_api(hass.process, hass.paths.console)
        timings.api_answered = time.monotonic()
        if not bootstrap_demo:
            return None
        assert accounts is not None
        assert hub is not None
        assert camera is not None
        try:
            demo = await bootstrap(ha, hass.paths, accounts, hub, camera)
            timings.ready = time.monotonic()
            if check:
                await check_plug_round_trip(ha, demo.equipment.entities["plug_entity"])
                demo.camera_probe = await check_camera(ha, demo.device_id)
                await check_no_fault(ha, demo.entry_id)
        finally:
            await ha.close()
        if check:
            await check_operator_login(session, port, demo)
    return demo


def serve(hass: Hass, port: int, timings: Timings, hub: HubProcess) -> int:
    """Stay in the foreground; restart HA when it asks to be; return its exit code."""
    print("Press Ctrl-C to stop.", flush=True)
    if sys.stdin is not None and sys.stdin.isatty():
        threading.Thread(target=read_commands, args=(hub,), name="commands", daemon=True).start()
    while True:
        assert hass.process is not None
        code = hass.process.wait()
        if code != RESTART_EXIT_CODE:
            print(f"Home Assistant exited with code {code}")
            return code
        # Under a supervisor or container, something restarts HA when it exits with this
        # code (Settings → ⋮ → Restart, e.g. after editing the integration): here, we do.
        # The broker and the hub keep running meanwhile, as they would on their own hosts.
        print("Home Assistant asked to be restarted; starting it again", flush=True)
        timings.hass_started = time.monotonic()
        hass.start()
        asyncio.run(bring_up(hass, port, timings, bootstrap_demo=False))
        took = timings.api_answered - timings.hass_started
        print(f"Home Assistant is back after {took:.1f} s", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (from a service manager, CI or `kill`) stops the demo as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Start the demo; see the module docstring."""
    timings = Timings()
    args = parse_args(argv)
    paths = Paths(args.config.resolve())
    port = free_port() if args.port == 0 else args.port
    ensure_port_free(port)

    paths.config.mkdir(parents=True, exist_ok=True)
    link_integration(paths.config)
    write_configuration(paths.config)
    write_http_config(paths.config, port)
    accounts = load_credentials(paths.credentials)
    if "camera" not in accounts:
        # Saved before the camera runs with it, like the other passwords; port 0 until the
        # home has the camera's address.
        accounts["camera"] = Account(CAMERA_USER, new_password())
        save_credentials(paths.credentials, accounts)

    signal.signal(signal.SIGTERM, _interrupt)
    # The camera, the broker and the home hub first, as in a municipality: they run before and
    # beside Home Assistant, whose MQTT integration then connects at once.
    camera = CameraProcess(paths, accounts["camera"])
    camera.spawn()
    try:
        broker, broker_line = start_broker(paths, accounts)
    except BaseException:
        camera.stop()
        raise
    print(f"demo: {broker_line}", flush=True)
    hub = HubProcess(paths, broker)
    hass = Hass(paths)
    try:
        hub.start()
        camera.wait_ready()
        timings.camera_ready = time.monotonic()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            timings.hass_started = time.monotonic()
            hass.start()
            try:
                demo = asyncio.run(
                    bring_up(
                        hass,
                        port,
                        timings,
                        bootstrap_demo=True,
                        accounts=accounts,
                        hub=hub,
                        camera=camera,
                        check=args.check,
                    )
                )
            except PortTaken as err:
                # In recovery mode now, on its default port: stopped at once.
                hass.stop()
                if args.port != 0 or attempt == PORT_ATTEMPTS:
                    raise
                port = free_port()
                write_http_config(paths.config, port)
                print(f"demo: {err}; starting it again on port {port}", flush=True)
            else:
                break
        assert demo is not None
        report(demo, timings, paths, hub, camera, broker_line=broker_line, check=args.check)
        if args.check:
            return 0
        return serve(hass, port, timings, hub)
    except DemoError as err:
        print(f"\ndemo: {err}\n--- the end of {paths.console} ---\n{tail(paths.console)}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping Home Assistant…", flush=True)
        return 0
    finally:
        code = hass.stop()
        if code is not None:
            print(f"Home Assistant stopped (exit code {code})", flush=True)
        hub.stop()
        camera.stop()
        broker.stop()
        print(f"hub, camera and {broker.kind} stopped", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except DemoError as err:
        print(f"demo: {err}", file=sys.stderr)
        sys.exit(1)
