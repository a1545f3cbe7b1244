"""The closing print: where the demo is, how to log in, what is simulated, how to play a fault."""

import contextlib
from datetime import datetime
import shutil
from zoneinfo import ZoneInfo

from .config import AREA_NAME, EQUIPMENT_ROLES, HOME_NAME, HUB_ID, SLOT_MINUTES, Paths, Timings
from .onboarding import Demo
from .processes import CameraProcess, HubProcess, shell_examples


def local_clock(iso: str, time_zone: str) -> str:
    """Show a timestamp state as the local clock time a person reads."""
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(iso).astimezone(ZoneInfo(time_zone)).strftime("%H:%M")
    return iso


def report(
    demo: Demo,
    timings: Timings,
    paths: Paths,
    hub: HubProcess,
    camera: CameraProcess,
    *,
    broker_line: str,
    check: bool,
) -> None:
    """Print where the demo is, how to log in, what is simulated and how to play a fault."""
    admin, operator = demo.accounts["admin"], demo.accounts["operator"]
    broker = hub.broker
    status = demo.states["status"]
    lines = [
        "",
        f"Trygghetskamera demo {'checked' if check else 'running'}: {demo.url}",
        f"  admin:        {admin.username} / {admin.password}",
        f"  operator:     {operator.username} / {operator.password}",
        f"  demo home:    {HOME_NAME}, device id: {demo.device_id}"
        + (" (added now)" if demo.home_added_now else ""),
        f"  status:       {status['entity_id']} = {status['state']}",
    ]
    if demo.times:
        lines.append(
            f"  agreed times: {', '.join(demo.times)} ({demo.time_zone}), "
            f"each slot open {SLOT_MINUTES} min"
        )
    if upcoming := demo.states.get("next_supervision"):
        lines.append(
            f"  next slot:    {local_clock(upcoming['state'], demo.time_zone)} ({demo.time_zone})"
        )
    if equipment := demo.states.get("equipment"):
        faults = equipment.get("attributes", {}).get("faults") or []
        lines.append(
            f"  faults:       {equipment['entity_id']} = {equipment['state']}"
            + (f" ({', '.join(faults)})" if faults else " (none)")
        )
    lines += [
        "  simulated:    the camera, the home's Zigbee2MQTT hub and its devices",
        f"  camera:       {camera.url}, user {camera.account.username} (password in the"
        " credentials file)",
        "                a simulated network camera: MJPEG over HTTP, a generated bedroom at"
        f" night; pid {camera.pid}; the home's camera {demo.camera_entry}",
        f"                output in {paths.camera_log}"
        + (
            f"; Home Assistant probed it: {demo.camera_probe}"
            if demo.camera_probe is not None
            else ""
        ),
        f"  MQTT broker:  {broker_line.removeprefix('MQTT broker: ')}",
        f"                user {broker.username} (password in the credentials file);"
        f" Home Assistant's MQTT entry {demo.mqtt_entry}; log {broker.log_path}",
        f"  home hub:     simulated Zigbee2MQTT {HUB_ID!r}, pid {hub.pid}, base topic"
        f" {hub.hub.base_topic}; output in {paths.hub_log}",
        "  equipment:    from MQTT discovery, in the home's equipment step"
        + (f" and the {AREA_NAME} area" if demo.home_added_now else "")
        + ":",
    ]
    for key, entity_id in demo.equipment.entities.items():
        role = EQUIPMENT_ROLES.get(key, key)
        lines.append(
            f"                {role + ':':<11} {entity_id} = {demo.equipment.states[entity_id]}"
        )
    if not check:
        lines.append(
            "  play a fault: type here: plug off | plug on | power 0.3 | bed empty |"
            " bed occupied | hub kill | hub start"
        )
    lines.append(
        ("  from a shell: " if not check else "  from a shell (while it runs): ")
        + (
            ""
            if shutil.which("mosquitto_pub")
            else "(mosquitto_pub: apt-get install mosquitto-clients)"
        )
    )
    lines += [
        f"                {example}"
        for example in shell_examples(broker, hub.hub, hub.pid, paths.credentials)
        if example
    ]
    lines += [
        f"  log:          {paths.log}",
        f"  credentials:  {paths.credentials}",
        f"  start took:   {timings.summary()}",
    ]
    if demo.failed_components:
        lines.append(
            f"  note:         Home Assistant could not set up {', '.join(demo.failed_components)}"
            " (see the log); the demo does not use them"
        )
    print("\n".join(lines), flush=True)
