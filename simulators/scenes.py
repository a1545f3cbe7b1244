"""Synthetic camera scenes for the tests, the demo and the benchmarks: never camera content.

A dim bedroom at night with a slowly moving person (in the bed, on the floor, or absent), a covered
lens, or a frozen picture, as PyAV frames (``scene_frames``) or written as H.264 MP4 files
(``generate_*``). Drawn with row runs and byte translation tables (C speed, no numpy), so only
PyAV is needed; nothing here imports Home Assistant or the integration.

``simulators.camera`` serves these scenes as a real MJPEG-over-HTTP camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
import itertools
import math
import os
from pathlib import Path
from typing import Literal

import av
import av.error
import av.filter
import av.video.stream

SceneKind = Literal["night", "black", "still"]

# Limited-range luma (16 = black) of a dim room lit by a camera's IR or a night light.
_WALL_TOP, _WALL_BOTTOM, _FLOOR = 36, 46, 30
_DOOR, _BED, _HEADBOARD, _PILLOW = 50, 74, 58, 92
_PERSON_PEAK = 132
# The checkerboard "face" of the privacy tests: as much detail as luma can carry.
_FACE_DARK, _FACE_LIGHT = 40, 200

# Where the person of a night scene is: in the bed, on the floor beside it, or not in the room.
Pose = Literal["in_bed", "on_floor", "absent"]
# The bed of the night scene, relative (x0, y0, x1, y1); the floor starts at 0.62 of the height.
SCENE_BED = (0.30, 0.50, 0.92, 0.86)
SCENE_FLOOR_Y = 0.62


def _rect(size: tuple[int, int], box: tuple[float, float, float, float]) -> tuple[int, ...]:
    width, height = size
    x0, y0, x1, y1 = box
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


class _NightRoom:
    """Draws the scene with row runs and byte translation tables: C speed, no numpy."""

    def __init__(
        self, size: tuple[int, int], person: bool, pose: Pose = "in_bed", face: bool = False
    ) -> None:
        height = size[1]
        self.size = size
        self.person = person and pose != "absent"
        self.pose = pose
        self.face = face
        floor_y = round(0.62 * height)
        # Axis-aligned rectangles, later ones on top: (x0, y0, x1, y1, luma).
        self.rects = [
            (*_rect(size, (0.06, 0.14, 0.20, 0.62)), _DOOR),
            (*_rect(size, (0.90, 0.40, 0.95, 0.84)), _HEADBOARD),
            (*_rect(size, SCENE_BED), _BED),
            (*_rect(size, (0.79, 0.54, 0.90, 0.70)), _PILLOW),
        ]
        self.rows: list[list[tuple[int, int, int]]] = []
        for y in range(height):
            if y < floor_y:
                base = _WALL_TOP + (_WALL_BOTTOM - _WALL_TOP) * y // max(1, floor_y)
            else:
                base = _FLOOR
            self.rows.append(self._runs(y, base))
        self.background = b"".join(self._render_row(runs) for runs in self.rows)
        if pose == "on_floor":
            self.sprite, self.sprite_size = self._floor_sprite()
        else:
            self.sprite, self.sprite_size = self._person_sprite()

    def _runs(self, y: int, base: int) -> list[tuple[int, int, int]]:
        width = self.size[0]
        values = bytearray([base]) * width
        for x0, y0, x1, y1, luma in self.rects:
            if y0 <= y < y1:
                values[x0:x1] = bytes([luma]) * (x1 - x0)
        runs: list[tuple[int, int, int]] = []
        start = 0
        for x in range(1, width + 1):
            if x == width or values[x] != values[start]:
                runs.append((start, x, values[start]))
                start = x
        return runs

    @staticmethod
    def _render_row(runs: list[tuple[int, int, int]]) -> bytes:
        return b"".join(bytes([value]) * (x1 - x0) for x0, x1, value in runs)

    def _person_sprite(self) -> tuple[list[bytes], tuple[int, int]]:
        """Soft weights (0-255) of a body under a blanket and a head on the pillow."""
        width, height = self.size
        sprite_w, sprite_h = round(0.52 * width), round(0.22 * height)
        body = (0.40 * sprite_w, 0.55 * sprite_h, 0.38 * sprite_w, 0.40 * sprite_h)
        head = (0.86 * sprite_w, 0.42 * sprite_h, 0.09 * sprite_w, 0.22 * sprite_h)
        self.head = head
        return self._ellipses_sprite(sprite_w, sprite_h, (body, head))

    def _floor_sprite(self) -> tuple[list[bytes], tuple[int, int]]:
        """A body lying on the floor beside the bed, head away from the camera (foreshortened)."""
        width, height = self.size
        sprite_w, sprite_h = round(0.20 * width), round(0.36 * height)
        body = (0.50 * sprite_w, 0.60 * sprite_h, 0.40 * sprite_w, 0.38 * sprite_h)
        head = (0.50 * sprite_w, 0.14 * sprite_h, 0.24 * sprite_w, 0.12 * sprite_h)
        self.head = head
        return self._ellipses_sprite(sprite_w, sprite_h, (body, head))

    @staticmethod
    def _ellipses_sprite(
        sprite_w: int, sprite_h: int, ellipses: tuple[tuple[float, float, float, float], ...]
    ) -> tuple[list[bytes], tuple[int, int]]:
        body, head = ellipses
        rows = []
        for j in range(sprite_h):
            row = bytearray(sprite_w)
            for i in range(sprite_w):
                weight = 0.0
                for cx, cy, rx, ry in (body, head):
                    r2 = ((i - cx) / rx) ** 2 + ((j - cy) / ry) ** 2
                    if r2 < 1:
                        # Brighter towards the middle, as a rounded shape under a lamp.
                        weight = max(weight, (1 - r2) ** 0.6)
                row[i] = round(255 * weight)
            rows.append(bytes(row))
        return rows, (sprite_w, sprite_h)

    def luma(self, t: float) -> bytes:
        """The luma plane at time ``t`` seconds."""
        if not self.person:
            return self.background
        width, height = self.size
        sprite_w = self.sprite_size[0]
        left, top, gain = self._placement(t)
        tables: dict[int, bytes] = {}
        plane = bytearray(self.background)
        for j, weights in enumerate(self.sprite):
            y = top + j
            if not 0 <= y < height:
                continue
            pieces = []
            for x0, x1, value in self.rows[y]:
                a, b = max(x0, left), min(x1, left + sprite_w)
                if a >= b:
                    continue
                table = tables.get(value)
                if table is None:
                    lift = (_PERSON_PEAK - value) * gain
                    table = bytes(min(235, round(value + lift * w / 255)) for w in range(256))
                    tables[value] = table
                pieces.append(weights[a - left : b - left].translate(table))
            start = y * width + max(0, left)
            segment = b"".join(pieces)
            plane[start : start + len(segment)] = segment
        if self.face:
            self._draw_face(plane, left, top)
        return bytes(plane)

    def _placement(self, t: float) -> tuple[int, int, float]:
        """Where the sprite's corner is at time ``t``, and how brightly it is lit."""
        width, height = self.size
        # Slow, incommensurate drifts: turning over under the blanket, breathing light. At 10 fps
        # every frame differs a little; over a few seconds the outline moves by tens of pixels.
        # Someone lying on the floor hardly moves.
        spread = 1.0 if self.pose == "in_bed" else 0.15
        dx = round(spread * 0.07 * width * math.sin(2 * math.pi * t / 17))
        dy = round(spread * 0.015 * height * math.sin(2 * math.pi * t / 11 + 1))
        gain = 0.82 + 0.18 * math.sin(2 * math.pi * t / 6)
        if self.pose == "on_floor":
            return round(0.06 * width) + dx, round(0.62 * height) + dy, gain
        return round(0.36 * width) + dx, round(0.56 * height) + dy, gain

    def face_box(self, t: float) -> tuple[int, int, int, int]:
        """The checkerboard "face" in pixels, (x0, y0, x1, y1), at time ``t``."""
        left, top, _gain = self._placement(t)
        cx, cy, rx, ry = self.head
        half = max(4, round(0.8 * min(rx, ry)))
        x0, y0 = round(left + cx) - half, round(top + cy) - half
        return x0, y0, x0 + 2 * half, y0 + 2 * half

    def _draw_face(self, plane: bytearray, left: int, top: int) -> None:
        """A high-detail texture where a face would be: what a filtered view must not show."""
        width, height = self.size
        cx, cy, rx, ry = self.head
        half = max(4, round(0.8 * min(rx, ry)))
        x0, y0 = round(left + cx) - half, round(top + cy) - half
        square = max(2, width // 160)
        for y in range(max(0, y0), min(height, y0 + 2 * half)):
            row = bytes(
                _FACE_LIGHT if ((x - x0) // square + (y - y0) // square) % 2 else _FACE_DARK
                for x in range(x0, x0 + 2 * half)
            )
            a, b = max(0, x0), min(width, x0 + 2 * half)
            plane[y * width + a : y * width + b] = row[a - x0 : b - x0]


def _grey_frame(luma: bytes, size: tuple[int, int]) -> av.VideoFrame:
    width, height = size
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = (
        (luma, width, height),
        (b"\x80" * (width // 2 * height // 2), width // 2, height // 2),
        (b"\x80" * (width // 2 * height // 2), width // 2, height // 2),
    )
    for plane, (data, plane_w, plane_h) in zip(frame.planes, planes, strict=True):
        stride = plane.line_size
        if stride == plane_w:
            plane.update(data)
        else:
            pad = bytes(stride - plane_w)
            plane.update(
                b"".join(data[row * plane_w : (row + 1) * plane_w] + pad for row in range(plane_h))
            )
    return frame


def scene_frames(
    kind: SceneKind = "night",
    *,
    seconds: float | None = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
    start: float = 0.0,
) -> Iterator[av.VideoFrame]:
    """Synthetic camera frames: a dim bedroom at night, a covered lens, or a frozen picture.

    ``night``: dark walls, a lighter bed, a softly lit person whose position and brightness drift
    slowly, mild sensor noise. ``black``: near-black with faint noise. ``still``: the night room
    at t=0 without noise, identical in every frame. ``pose`` puts the person in the bed (the
    default), on the floor beside it, or nowhere (as ``person=False``); ``face`` draws a
    checkerboard where the face is (see ``scene_face_box``), the detail a filtered view must hide.
    The frames show ``start`` seconds onwards of the scene, for ``seconds`` (None: for ever, as
    a live camera renders them).
    """
    width, height = size
    if width % 2 or height % 2 or width < 32 or height < 32:
        raise ValueError("size must be even and at least 32x32")
    room = None if kind == "black" else _NightRoom(size, person, pose, face)
    graph = None
    if kind != "still":
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=width, height=height, format="yuv420p", time_base=Fraction(1, fps)
        )
        blur = graph.add("gblur", "sigma=1.2")
        strength = "2" if kind == "black" else "5"
        noise = graph.add("noise", f"c0s={strength}:c0f=t")
        sink = graph.add("buffersink")
        source.link_to(blur)
        blur.link_to(noise)
        noise.link_to(sink)
        graph.configure()
    black = b"\x10" * (width * height)
    count = itertools.count() if seconds is None else range(max(1, round(seconds * fps)))
    for index in count:
        t = 0.0 if kind == "still" else start + index / fps
        luma = black if room is None else room.luma(t)
        frame = _grey_frame(luma, size)
        frame.pts = index
        frame.time_base = Fraction(1, fps)
        if graph is not None:
            graph.push(frame)
            filtered = graph.pull()
            assert isinstance(filtered, av.VideoFrame)
            frame = filtered
            frame.pts = index
            frame.time_base = Fraction(1, fps)
        yield frame


def _h264_encoder() -> str:
    for name in ("libx264", "libopenh264", "h264_v4l2m2m"):
        try:
            av.Codec(name, "w")
        except av.error.FFmpegError, ValueError:
            continue
        return name
    raise RuntimeError("this PyAV build has no H.264 encoder")


def write_scene_video(
    path: str | os.PathLike[str],
    kind: SceneKind = "night",
    *,
    seconds: float = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
) -> None:
    """Write a synthetic scene as H.264 (yuv420p, keyframe every 2 s) in an MP4 file.

    Written beside the target and renamed into place, so a reader never sees half a file.
    """
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    encoder = _h264_encoder()
    try:
        with av.open(str(partial), "w", format="mp4") as output:
            stream = output.add_stream(encoder, rate=fps)
            assert isinstance(stream, av.video.stream.VideoStream)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.gop_size = 2 * fps
            if encoder == "libx264":
                # No B-frames and no scene-cut keyframes: the GOP is the camera-like 2 s.
                stream.codec_context.options = {
                    "preset": "veryfast",
                    "crf": "23",
                    "bf": "0",
                    "sc_threshold": "0",
                }
            frames = scene_frames(
                kind, seconds=seconds, fps=fps, size=size, person=person, pose=pose, face=face
            )
            for frame in frames:
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def generate_night_scene(
    path: str | os.PathLike[str],
    *,
    seconds: float = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
) -> None:
    """Write a dim bedroom at night with a slowly moving person as an H.264 MP4."""
    write_scene_video(
        path, "night", seconds=seconds, fps=fps, size=size, person=person, pose=pose, face=face
    )


def scene_face_box(size: tuple[int, int], pose: Pose, t: float = 0.0) -> tuple[int, int, int, int]:
    """Where the checkerboard face of a night scene is at ``t`` seconds: (x0, y0, x1, y1) px."""
    return _NightRoom(size, True, pose, face=True).face_box(t)


def generate_black_video(
    path: str | os.PathLike[str],
    *,
    seconds: float = 4,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> None:
    """Write a covered-lens video (near-black, faint noise) as an H.264 MP4."""
    write_scene_video(path, "black", seconds=seconds, fps=fps, size=size)


def generate_still_video(
    path: str | os.PathLike[str],
    *,
    seconds: float = 4,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> None:
    """Write a frozen camera (the night room, identical in every frame) as an H.264 MP4."""
    write_scene_video(path, "still", seconds=seconds, fps=fps, size=size)
