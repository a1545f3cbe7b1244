"""Ask the camera for a keyframe now, where it speaks ONVIF (Media `SetSynchronizationPoint`).

A camera keeps its keyframe interval (GOP) whoever watches: a viewer joining between keyframes
sees its first picture only at the next one, up to a GOP later (1-4 s on common cameras).
ONVIF's media service lets a client ask the encoder for a keyframe at once. With the camera's
ONVIF port in the home's camera settings (`onvif_port`; same host and credentials as the stream),
a look or a probe asks for one as soon as its stream is playing, and the first picture follows
within a frame or two. Without it, or when the camera does not answer, the stream waits for the
camera's own next keyframe as before: this can only make the first picture sooner.

The library is `onvif-zeep-async`, the one Home Assistant's own ONVIF integration uses.
"""

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .const import CONF_ONVIF_PORT, CONF_PASSWORD, CONF_STREAM_URL, CONF_USERNAME

# The library calls logging.basicConfig(level=INFO) on import, which would turn on INFO logging
# for everything where the root logger has no handler yet (scripts, tests); Home Assistant has
# its handlers by then. A handler for the duration of the import makes that call do nothing.
_import_guard = logging.NullHandler()
logging.getLogger().addHandler(_import_guard)
try:
    from onvif import ONVIFCamera, ONVIFService  # type: ignore[import-untyped]
    from onvif.exceptions import ONVIFError  # type: ignore[import-untyped]
    import zeep.exceptions
finally:
    logging.getLogger().removeHandler(_import_guard)

_LOGGER = logging.getLogger(__name__)

# A keyframe asked for later than this is no use to a look that is waiting for one.
REQUEST_TIMEOUT_S = 5.0

_FAILURES = (ONVIFError, zeep.exceptions.Error, aiohttp.ClientError, TimeoutError, OSError)


class KeyframeRequester:
    """One camera's ONVIF media service, found once and asked for keyframes on demand."""

    def __init__(
        self, stream_url: str, port: int, username: str | None, password: str | None
    ) -> None:
        """Describe the camera; nothing is contacted before the first request."""
        parts = urlsplit(stream_url)
        self._host = parts.hostname or ""
        self._stream_path = parts.path
        self._port = port
        # The library signs every call; a camera without a login ignores an empty signature.
        self._credentials = (username or "", password or "")
        self._camera: ONVIFCamera | None = None
        self._media: ONVIFService | None = None
        self._tokens: list[str] | None = None
        self._lock = asyncio.Lock()

    async def async_prepare(self) -> None:
        """Find the media service and the profile of the home's stream (once; then cached)."""
        async with self._lock:
            if self._tokens is not None:
                return
            # no_cache: the WSDL files ship with the library; nothing is written to disk.
            camera = ONVIFCamera(self._host, self._port, *self._credentials, no_cache=True)
            self._camera = camera
            await camera.update_xaddrs()
            media = await camera.create_media_service()
            tokens = [str(profile.token) for profile in await media.GetProfiles()]
            # The profile whose stream is the home's; a camera that does not say asks them all
            # (a keyframe on a stream nobody watches costs a few kilobytes).
            matching = [token for token in tokens if await self._is_ours(media, token)]
            self._media = media
            self._tokens = matching or tokens

    async def async_warm(self) -> None:
        """Find the media service ahead of the first request, if the camera answers now."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                await self.async_prepare()
        except _FAILURES:
            # async_request tries again and says what failed.
            await self.async_close()

    async def _is_ours(self, media: ONVIFService, token: str) -> bool:
        setup: dict[str, Any] = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        try:
            answer = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": token})
        except _FAILURES:
            return False
        return bool(urlsplit(str(answer.Uri)).path == self._stream_path)

    async def async_request(self) -> bool:
        """Ask for a keyframe now; False (and logged) when the camera could not be asked."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                await self.async_prepare()
                assert self._media is not None
                for token in self._tokens or ():
                    await self._media.SetSynchronizationPoint({"ProfileToken": token})
        except _FAILURES as err:
            _LOGGER.warning(
                "The camera at %s:%s did not take an ONVIF keyframe request: %s",
                self._host,
                self._port,
                type(err).__name__,
            )
            # Found afresh next time: the camera may have restarted or been replaced.
            await self.async_close()
            return False
        return True

    async def async_close(self) -> None:
        """Close the connections to the camera."""
        camera, self._camera = self._camera, None
        self._media = None
        self._tokens = None
        if camera is not None:
            await camera.close()


def requester_for(data: Any) -> KeyframeRequester | None:
    """A requester for the camera of a home's entry data, or None without an ONVIF port."""
    port = data.get(CONF_ONVIF_PORT)
    if not port:
        return None
    return KeyframeRequester(
        data[CONF_STREAM_URL], int(port), data.get(CONF_USERNAME), data.get(CONF_PASSWORD)
    )
