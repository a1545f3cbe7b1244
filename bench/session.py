"""Live looks through the gate: time to the first picture, CPU per second, concurrent looks.

    .venv/bin/python bench/session.py [--runs 20] [--concurrency 1 5 10 20 30]
        [--views full bed_area silhouette] [--sizes 640x480 1280x720] [--view-concurrency 1 10]
        [--view-camera rtsp|mjpeg-night]

A real Home Assistant (pytest-homeassistant-custom-component's `async_test_home_assistant`, its
HTTP server on a free loopback port) with homes whose slot is open now, a real RTSP camera
(Debian's GStreamer RTSP server, 640x480, 10 fps, H.264, GOP 2 s, one shared encoder so the
camera's own encoding is not counted as ours), and a real client over loopback: websocket
`session/start`, then the signed MJPEG stream. Printed:
- time from `session/start` sent to the first JPEG byte at the client (median and p90 of --runs);
- CPU seconds per second of streaming for one look (this process: decoding, JPEG, HTTP, client);
- for each concurrency, the frames per second each look received (lowest and median): the
  largest concurrency where every look keeps >= 5 frames/s is what 2 cores hold;
- the sensor view: for each camera size (`--sizes`, a camera of its own), each view mode
  (`--views`; `bed_area` with the bed area 0.3, 0.45, 0.95, 0.9) and each concurrency
  (`--view-concurrency`), frames/s per look (lowest, median) and CPU seconds per second per look.
  `--view-camera mjpeg-night` uses an HTTP MJPEG camera showing the project's night scene (sensor
  noise, a person who moves) instead of the RTSP test picture. `--views` with no mode leaves
  this part out.
"""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import functools
import math
from pathlib import Path
import random
import statistics
import sys
import tempfile
import time
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import custom_components.trygghetskamera  # noqa: E402, F401, I001
from custom_components.trygghetskamera import media, onvif_keyframe  # noqa: E402
from custom_components.trygghetskamera.const import (  # noqa: E402
    CONF_NAME,
    CONF_ONVIF_PORT,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    CONF_VIEW_SECONDS,
    DOMAIN,
)
from custom_components.trygghetskamera.view_filter import VIEW_MODES  # noqa: E402
from custom_components.trygghetskamera.runtime import STORAGE_VERSION, home_config  # noqa: E402
from custom_components.trygghetskamera.supervision import Supervisor  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.helpers import frame  # noqa: E402
from homeassistant.helpers.storage import Store  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)
from tests.conftest import home_options  # noqa: E402
from tests.media_sources import MjpegServer, RtspServer, free_port  # noqa: E402

MEASURE_S = 10.0
BED_REGION = [0.3, 0.45, 0.95, 0.9]


async def confirm_http_config(hass: HomeAssistant) -> None:
    """Confirm the HTTP settings given at setup, as an administrator would.

    Home Assistant 2026.10 takes an `http:` configuration as an unconfirmed trial and, five
    minutes later, reverts it and restarts Home Assistant: a run longer than that would be cut.
    """
    try:
        from homeassistant.components.http.config import async_get_and_load_store
    except ImportError:  # Releases before 2026.10 have no trial.
        return
    store = await async_get_and_load_store(hass)
    if store.pending is not None:
        await store.async_promote_pending()


async def add_home(
    hass: HomeAssistant,
    url: str,
    operator: str,
    index: int,
    *,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> MockConfigEntry:
    """A home set up an hour ago whose agreed time is this minute, so its slot is open.

    `data` adds to the entry's camera settings (e.g. its ONVIF port), `extra` to its options.
    """
    options = home_options(
        [operator],
        **{CONF_TIMES: [dt_util.now().strftime("%H:%M")], CONF_VIEW_SECONDS: 120} | extra,
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Bench {index}",
        data={CONF_NAME: f"Bench {index}", CONF_STREAM_URL: url} | (data or {}),
        options=options,
    )
    entry.add_to_hass(hass)
    config = home_config(options)
    supervisor = Supervisor(
        config, dt_util.get_default_time_zone(), dt_util.utcnow() - timedelta(hours=1)
    )
    await Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}").async_save(
        {"config": config.as_dict(), "supervisor": supervisor.to_dict()}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    return entry


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.5 = median, 0.9 = p90)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class LookEnded(Exception):
    """A look's stream ended before the bench was done with it: the run measures nothing."""


class Operator:
    """A night-staff member with a websocket connection to Home Assistant.

    The connection is read all the time, as the panel does: Home Assistant pings every
    websocket and closes one whose client does not answer, and answering means reading.
    """

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(f"{self.base}/api/websocket")
        await self.ws.receive_json()
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        assert (await self.ws.receive_json())["type"] == "auth_ok"
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                answer = message.json()
                if (future := self._answers.pop(answer.get("id"), None)) is not None:
                    future.set_result(answer)

    async def call(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        self._id += 1
        answer = self._answers[self._id] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": self._id} | message)
        return await answer

    async def close(self) -> None:
        assert self.ws is not None
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def look(self, entry_id: str) -> tuple[float, aiohttp.ClientResponse, str]:
        """Start a look; return seconds to the first JPEG byte, the open stream, its session."""
        began = time.perf_counter()
        answer = await self.call({"type": f"{DOMAIN}/session/start", "entry_id": entry_id})
        if not answer["success"]:
            raise LookEnded(f"the look at {entry_id} was refused: {answer['error']}")
        response = await self.session.get(self.base + answer["result"]["stream_path"])
        if response.status != 200:
            # The look ended (its camera failed) before the stream was asked for.
            response.close()
            raise LookEnded(f"the look at {entry_id} had ended before its stream was asked for")
        seen = b""
        while b"\xff\xd8" not in seen:
            chunk = await response.content.readany()
            if not chunk:
                # The look ended before its first picture: nothing to measure, and reading on
                # would spin for ever on the empty reads of a closed stream.
                response.close()
                raise LookEnded(f"the look at {entry_id} ended before its first JPEG")
            seen = seen[-1:] + chunk
        return time.perf_counter() - began, response, answer["result"]["session_id"]

    async def finish(self, session_id: str, response: aiohttp.ClientResponse) -> None:
        await self.call(
            {"type": f"{DOMAIN}/session/outcome", "session_id": session_id, "outcome": "ok"}
        )
        response.close()


async def count_frames(response: aiohttp.ClientResponse, seconds: float) -> int:
    frames = 0
    tail = b""
    end = time.perf_counter() + seconds
    while (left := end - time.perf_counter()) > 0:
        try:
            async with asyncio.timeout(left):
                chunk = await response.content.readany()
        except TimeoutError:
            break
        if not chunk:
            raise LookEnded("a look ended while its frames were being counted")
        data = tail + chunk
        frames += data.count(b"\xff\xd8\xff")
        tail = data[-2:]
    return frames


async def measure(
    session: aiohttp.ClientSession, base: str, token: str, batch: list[MockConfigEntry]
) -> tuple[list[float], float]:
    """Look at every home of `batch` at once; return frames/s per look and CPU s per s."""
    # Each look from its own connection, as from each member of staff's phone.
    desks = [Operator(session, base, token) for _ in batch]
    await asyncio.gather(*(desk.connect() for desk in desks))
    looks = await asyncio.gather(
        *(desk.look(e.entry_id) for desk, e in zip(desks, batch, strict=True))
    )
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    counts = await asyncio.gather(*(count_frames(response, MEASURE_S) for _, response, _ in looks))
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    for desk, (_, response, session_id) in zip(desks, looks, strict=True):
        await desk.finish(session_id, response)
        await desk.close()
    rates = [count / wall for count in counts]
    if max(rates) > 1.5 * FPS:
        # More pictures than the camera takes: the camera sent a backlog, not a live stream.
        raise LookEnded(f"a look got {max(rates):.0f} frames/s from a {FPS} frames/s camera")
    return rates, cpu / wall


async def bench_views(
    hass: HomeAssistant,
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    *,
    user_id: str,
    views: list[str],
    sizes: list[tuple[int, int]],
    concurrency: list[int],
    camera_kind: str,
) -> None:
    """Frames/s and CPU per look for each view mode and camera size."""
    index = 10_000
    for width, height in sizes:
        source: RtspServer | MjpegServer
        if camera_kind == "mjpeg-night":
            source = MjpegServer(kind="night", seconds=6, size=(width, height))
        else:
            source = RtspServer(width=width, height=height)
        print(f"{width}x{height} camera: {camera_kind}")
        with source as camera:
            for mode in views:
                for n in concurrency:
                    extra = {CONF_VIEW_MODE: mode, CONF_VIEW_REGION: BED_REGION}
                    batch = []
                    for _ in range(n):
                        batch.append(await add_home(hass, camera.url, user_id, index, **extra))
                        index += 1
                    await hass.async_block_till_done()
                    rates, cpu = await measure(session, base, token, batch)
                    await hass.async_block_till_done()
                    print(
                        f"{width}x{height} {mode:<10} {n:3d} looks: frames/s per look"
                        f" min {min(rates):.1f}, median {statistics.median(rates):.1f};"
                        f" CPU {cpu / n:.3f} s per s per look"
                    )


FPS = 10


async def first_pictures(
    hass: HomeAssistant,
    staff: Operator,
    user_id: str,
    *,
    gops: list[float],
    runs: int,
    broken_camera: bool,
) -> None:
    """For each GOP: the PyAV floor and `session/start` -> first JPEG byte, without and with
    ONVIF; print p50 and p90 of each.

    One camera per GOP (its encoder running from the start, its keyframe interval fixed, ONVIF
    on). Before each measurement the bench waits a random part of the GOP, so every arm joins
    the camera at a uniformly random point of its GOP, as a look at an agreed time does. Each
    gate measurement is a home of its own (a slot allows one look with an outcome); a home's
    ONVIF service is found before its look, as the probe before each slot finds it.
    """
    for number, gop_s in enumerate(gops):
        with RtspServer(gop=max(1, round(gop_s * FPS)), fps=FPS, onvif=True) as camera:
            assert camera.onvif_port is not None
            url = f"rtsp://127.0.0.1:{free_port()}/cam" if broken_camera else camera.url
            arms = await _first_pictures_at(
                hass,
                staff,
                user_id,
                url,
                camera.onvif_port,
                gop_s=gop_s,
                runs=runs,
                first_index=20_000 + 1000 * number,
            )
        for arm, values in arms.items():
            print(
                f"GOP {gop_s:g} s, {arm}: p50 {percentile(values, 0.5):.0f} ms,"
                f" p90 {percentile(values, 0.9):.0f} ms ({runs} looks)"
            )


async def _first_pictures_at(
    hass: HomeAssistant,
    staff: Operator,
    user_id: str,
    url: str,
    onvif_port: int,
    *,
    gop_s: float,
    runs: int,
    first_index: int,
) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()
    plain: list[MockConfigEntry] = []
    with_onvif: list[MockConfigEntry] = []
    for number in range(2 * runs):
        index = first_index + number
        onvif = number >= runs
        data = {CONF_ONVIF_PORT: onvif_port} if onvif else None
        home = await add_home(hass, f"{url}?home={index}", user_id, index, data=data)
        (with_onvif if onvif else plain).append(home)
    await hass.async_block_till_done()
    requester = onvif_keyframe.KeyframeRequester(url, onvif_port, None, None)
    requests: set[asyncio.Task[bool]] = set()
    for keyframes in [requester, *(home.runtime_data.gate.keyframes for home in with_onvif)]:
        assert keyframes is not None
        await keyframes.async_warm()

    def ask() -> None:
        task = loop.create_task(requester.async_request())
        requests.add(task)
        task.add_done_callback(requests.discard)

    async def floor(on_open: Callable[[], None] | None) -> float:
        result = await asyncio.to_thread(media.probe, url, None, None, on_open=on_open)
        if not result.ok:
            raise LookEnded(f"the camera failed its probe: {result.reason}")
        return float(result.ms)

    async def gate(home: MockConfigEntry) -> float:
        seconds, response, session_id = await staff.look(home.entry_id)
        await staff.finish(session_id, response)
        return seconds * 1000

    arms: dict[str, list[float]] = {
        "PyAV floor": [],
        "PyAV floor, ONVIF": [],
        "session/start -> first JPEG byte": [],
        "session/start -> first JPEG byte, ONVIF": [],
    }
    for trial in range(runs):
        measures: list[tuple[str, Callable[[], Awaitable[float]]]] = [
            ("PyAV floor", functools.partial(floor, None)),
            ("PyAV floor, ONVIF", functools.partial(floor, lambda: loop.call_soon_threadsafe(ask))),
            ("session/start -> first JPEG byte", functools.partial(gate, plain[trial])),
            ("session/start -> first JPEG byte, ONVIF", functools.partial(gate, with_onvif[trial])),
        ]
        random.shuffle(measures)
        for arm, measurement in measures:
            # Join the GOP at a random point: the previous measurement ended at a keyframe.
            await asyncio.sleep(random.uniform(0, gop_s))
            arms[arm].append(await measurement())
    await requester.async_close()
    return arms


async def bench(
    runs: int,
    concurrency: list[int],
    config_dir: str,
    *,
    views: list[str],
    sizes: list[tuple[int, int]],
    view_concurrency: list[int],
    view_camera: str,
    gops: list[float],
    broken_camera: bool = False,
) -> None:
    with RtspServer() as server:
        url = f"rtsp://127.0.0.1:{free_port()}/cam" if broken_camera else server.url
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            try:
                # As the `hass` fixture and `enable_custom_integrations` do.
                frame.async_setup(hass)
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
                port = free_port()
                assert await async_setup_component(
                    hass, "http", {"http": {"server_host": "127.0.0.1", "server_port": port}}
                )
                await confirm_http_config(hass)
                assert await async_setup_component(hass, DOMAIN, {})
                await hass.async_start()
                await hass.async_block_till_done()
                user = await hass.auth.async_create_user("Bench", group_ids=["system-users"])
                refresh = await hass.auth.async_create_refresh_token(user, "http://bench.invalid/")
                token = hass.auth.async_create_access_token(refresh)
                homes = max(concurrency)
                entries = [
                    await add_home(hass, f"{url}?home={i}", user.id, i) for i in range(homes)
                ]
                await hass.async_block_till_done()
                base = f"http://127.0.0.1:{port}"
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0)
                ) as session:
                    staff = Operator(session, base, token)
                    await staff.connect()

                    await first_pictures(
                        hass, staff, user.id, gops=gops, runs=runs, broken_camera=broken_camera
                    )
                    await staff.close()

                    await hass.async_block_till_done()
                    used = 0
                    for n in concurrency:
                        batch = [
                            entry for entry in entries if entry.runtime_data.gate.may_start(user.id)
                        ][:n]
                        if len(batch) < n:
                            # Every slot of the earlier rounds already has its outcome: new homes.
                            batch += [
                                await add_home(
                                    hass,
                                    f"{url}?home={homes + used + i}",
                                    user.id,
                                    homes + used + i,
                                )
                                for i in range(n - len(batch))
                            ]
                            used += n
                        rates, cpu = await measure(session, base, token, batch)
                        await hass.async_block_till_done()
                        print(
                            f"{n:3d} concurrent looks: frames/s per look min {min(rates):.1f},"
                            f" median {statistics.median(rates):.1f};"
                            f" CPU {cpu:.2f} s per s ({cpu / n:.3f} per look)"
                        )
                    if views:
                        await bench_views(
                            hass,
                            session,
                            base,
                            token,
                            user_id=user.id,
                            views=views,
                            sizes=sizes,
                            concurrency=view_concurrency,
                            camera_kind=view_camera,
                        )
            finally:
                # Stops the audit log's writer thread too, or this process would never exit.
                await hass.async_stop(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="looks per GOP and arm")
    parser.add_argument(
        "--gops", type=float, nargs="+", default=[1.0, 2.0, 4.0], help="keyframe intervals (s)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    parser.add_argument(
        "--views", nargs="*", choices=VIEW_MODES, default=list(VIEW_MODES), metavar="MODE"
    )
    parser.add_argument("--sizes", type=size, nargs="+", default=[(640, 480), (1280, 720)])
    parser.add_argument("--view-concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--view-camera", choices=["rtsp", "mjpeg-night"], default="rtsp")
    parser.add_argument(
        "--broken-camera", action="store_true", help="no camera answers: the run must fail"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as config_dir:
        try:
            asyncio.run(
                bench(
                    args.runs,
                    args.concurrency,
                    config_dir,
                    views=args.views,
                    sizes=args.sizes,
                    view_concurrency=args.view_concurrency,
                    view_camera=args.view_camera,
                    gops=args.gops,
                    broken_camera=args.broken_camera,
                )
            )
        except LookEnded as err:
            raise SystemExit(f"degenerate run: {err}") from None


def size(text: str) -> tuple[int, int]:
    """Read a camera size such as 1280x720."""
    width, _, height = text.partition("x")
    return int(width), int(height)


if __name__ == "__main__":
    main()
