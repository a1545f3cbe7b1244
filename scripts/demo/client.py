"""A client of Home Assistant's REST and websocket API, as the frontend uses them."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import json
from pathlib import Path
import subprocess
from typing import Any

import aiohttp

from .config import API_TIMEOUT_S, HTTP_BIND_FAILED, Account, DemoError, PortTaken


def bind_failure(console: Path) -> str | None:
    """The line in which Home Assistant says its HTTP server could not bind, if it did."""
    try:
        text = console.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return next((line.strip() for line in text.splitlines() if HTTP_BIND_FAILED in line), None)


class HomeAssistant:
    """A client of Home Assistant's REST and websocket API, as the frontend uses them."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        """Talk to the instance on 127.0.0.1:port."""
        self.session = session
        self.base = f"http://127.0.0.1:{port}"
        # The frontend's client id: HA only hands auth codes to a client on its own origin.
        self.client_id = f"{self.base}/"
        self.token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0

    async def wait_for_api(
        self, process: subprocess.Popen[bytes], console: Path | None = None
    ) -> None:
        """Poll the API until it answers.

        It asks /auth/providers, the first call of the login page, rather than /api/: without
        a token /api/ answers 401, which HA counts as a failed login and announces with a
        "Login attempt failed" notification in the UI. If `console` (what the hass process
        prints) says its HTTP server could not bind, raise PortTaken at once: it would never
        answer there (it goes into recovery mode on its default port instead).
        """
        async with deadline(API_TIMEOUT_S, "Home Assistant's API to answer"):
            polls = 0
            while True:
                if process.poll() is not None:
                    raise DemoError(f"Home Assistant exited with code {process.returncode}")
                polls += 1
                if console is not None and polls % 10 == 0 and (line := bind_failure(console)):
                    raise PortTaken(f"Home Assistant could not listen on {self.base}: {line}")
                try:
                    # Any answer will do: before onboarding it is 400 "onboarding_required".
                    # Bounded, so that whatever listens there without answering cannot hold
                    # up the check of the console.
                    async with self.session.get(
                        f"{self.base}/auth/providers", timeout=aiohttp.ClientTimeout(total=10)
                    ):
                        return
                except aiohttp.ClientError, OSError, TimeoutError:
                    pass
                await asyncio.sleep(0.1)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """Call the REST API; return the decoded JSON (None for no body)."""
        async with self.session.request(
            method, f"{self.base}{path}", json=payload, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status not in ok:
                raise DemoError(f"{method} {path} answered {response.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def exchange_code(self, code: str) -> None:
        """Turn an auth code (from onboarding or a login) into an access token."""
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        async with self.session.post(f"{self.base}/auth/token", data=form) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise DemoError(f"/auth/token answered {response.status}: {body}")
        self.token = body["access_token"]

    async def login(self, account: Account) -> None:
        """Log in with username and password through the login flow the frontend uses."""
        start = {
            "client_id": self.client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{self.base}/?auth_callback=1",
        }
        flow = await self.request("POST", "/auth/login_flow", start)
        step = {
            "client_id": self.client_id,
            "username": account.username,
            "password": account.password,
        }
        result = await self.request("POST", f"/auth/login_flow/{flow['flow_id']}", step)
        if result.get("type") != "create_entry":
            raise DemoError(
                f"cannot log in as {account.username!r} ({result.get('errors')}): the demo "
                "config and its credentials.json do not belong together; delete both to start "
                "afresh"
            )
        await self.exchange_code(result["result"])

    async def ws(self, command: str, **data: Any) -> Any:
        """Send one websocket command and return its result."""
        if self._ws is None:
            self._ws = await self.session.ws_connect(f"{self.base}/api/websocket")
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            reply = await self._ws.receive_json()
            if reply.get("type") != "auth_ok":
                raise DemoError(f"websocket authentication failed: {reply}")
        self._ws_id += 1
        await self._ws.send_json({"id": self._ws_id, "type": command, **data})
        while True:
            reply = await self._ws.receive_json()
            if reply.get("id") == self._ws_id and reply.get("type") == "result":
                break
        if not reply.get("success"):
            raise DemoError(f"websocket {command} failed: {reply.get('error')}")
        return reply.get("result")

    async def close(self) -> None:
        """Close the websocket, if one was opened."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None


@contextlib.asynccontextmanager
async def deadline(seconds: float, what: str) -> AsyncIterator[None]:
    """Bound a wait: every wait of the demo ends, with a message saying what did not happen."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise DemoError(f"timed out after {seconds:.0f} s waiting for {what}") from None


async def poll[T](what: str, probe: Callable[[], Awaitable[T | None]], seconds: float) -> T:
    """Call `probe` until it returns something other than None, for at most `seconds`."""
    async with deadline(seconds, what):
        while True:
            if (result := await probe()) is not None:
                return result
            await asyncio.sleep(0.2)
