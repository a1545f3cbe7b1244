"""The sensor view: what a live look shows, filtered in memory before a frame is encoded.

`full` shows the picture as the camera sends it. `bed_area` shows only a rectangle around the bed
(`view_region`, relative `[x0, y0, x1, y1]`); everything else is black. `silhouette` shows shapes
and movement only: the room as a few dark, coarse tones and the person as one plain light shape,
so staff can tell "in bed", "out of bed" and "on the floor beside the bed" without seeing a face
or a body.

The filters are plain numpy on the decoded planes, with no Home Assistant import: the gate's
decoder thread runs them on every frame between decode and JPEG encode, so the unfiltered frame
exists only in that thread's memory. A filter that cannot do its work raises; the gate then ends
the look (fail closed) and never shows the unfiltered frame instead.

How the silhouette finds the person without storing anything about the room:
- the luma is averaged over cells of 1/80 of the picture's width (8 px at 640x480), so nothing
  smaller than a cell survives (a face is two or three cells);
- "bright shapes": a cell much brighter than the room around it, where the room is the
  picture's grey-level *opening* with a square larger than a lying person is tall but smaller
  than a bed (0.3 of the picture's height): furniture as big as a bed survives the opening,
  a person (lying, standing or on the floor) does not, so the difference is the person;
- "movement": a cell that differs from the session's background model, a running average of
  the cells kept in memory for this look only and dropped with it;
- the union of both, rid of lone cells, is drawn as one light tone; the rest of the room as at
  most four dark tones. Colour is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Final

import av
import av.video.reformatter
import numpy as np
from numpy.typing import NDArray

VIEW_FULL: Final = "full"
VIEW_BED_AREA: Final = "bed_area"
VIEW_SILHOUETTE: Final = "silhouette"
VIEW_MODES: Final = (VIEW_FULL, VIEW_BED_AREA, VIEW_SILHOUETTE)
DEFAULT_VIEW_MODE: Final = VIEW_FULL

# The smallest bed area, as a share of the picture's width and height: anything smaller cannot
# hold a bed seen from a camera mounted high, and is far more likely a slip of the mouse.
MIN_REGION_SIZE: Final = 0.1

# Error keys of a region that cannot be used (translated in the options flow; websocket codes).
REGION_FORMAT: Final = "region_format"
REGION_OUTSIDE: Final = "region_outside"
REGION_ORDER: Final = "region_order"
REGION_TOO_SMALL: Final = "region_too_small"
REGION_REQUIRED: Final = "region_required"

# JPEG codes 4:2:0 pictures in 16x16 blocks. A bed area snapped outward to that grid leaves the
# black outside as whole blocks, which decode to one flat value: no ringing of the bed's edge
# leaks detail into the black.
JPEG_BLOCK: Final = 16

# Silhouette: cells per picture width, and the tones (full-range luma) it is drawn in.
_CELLS_ACROSS = 80
_ROOM_TONES = (12, 28, 44, 60)
_ROOM_GAIN = 2.0  # room luma x gain / 64 = which dark tone: the floor darkest, a lit bed lighter
_SHAPE_TONE = 224
_OUTLINE_TONE = 110
# A cell this much brighter (full-range luma) than the room's opening is part of a bright shape;
# a lit pillow on a lit bed is about 20 above it, a person under IR 50-70.
_BRIGHT_STEP = 32.0
# A cell that differs this much from the background model moved. Sensor noise averaged over a
# cell of 64 pixels is below 1; a blanket shifting is tens.
_MOTION_STEP = 14.0
# How fast the background model follows the picture (per frame): about 2 s at 10 fps, so a
# person who stops moving keeps showing as movement for a moment, and as a bright shape after.
_BACKGROUND_RATE = 0.05
# The opening's square, as a share of the picture's height.
_ROOM_SCALE = 0.3

type Region = tuple[float, float, float, float]
type Plane = NDArray[np.uint8]


class FilterError(Exception):
    """The view cannot be produced; the look must end rather than show the unfiltered frame."""


# --- the region -----------------------------------------------------------------------------------


def validate_region(value: object) -> str | None:
    """Return an error key for a region that cannot be a bed area, or None when it can.

    A region is four numbers `[x0, y0, x1, y1]`, relative to the picture (0-1), with
    `x0 < x1`, `y0 < y1`, and at least `MIN_REGION_SIZE` wide and tall.
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        return REGION_FORMAT
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        return REGION_FORMAT
    x0, y0, x1, y1 = (float(v) for v in value)
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        return REGION_OUTSIDE
    if not (x0 < x1 and y0 < y1):
        return REGION_ORDER
    # A hair of tolerance: 0.1 entered as text or dragged to the pixel is still 0.1.
    if x1 - x0 < MIN_REGION_SIZE - 1e-9 or y1 - y0 < MIN_REGION_SIZE - 1e-9:
        return REGION_TOO_SMALL
    return None


def parse_region_text(text: str) -> tuple[list[float] | None, str | None]:
    """Read "x0, y0, x1, y1" as typed in a form; empty means no region. Returns (region, error)."""
    text = text.strip().strip("[]()").strip()
    if not text:
        return None, None
    parts = [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        return None, REGION_FORMAT
    region = normalise_region(numbers)
    return (None, error) if (error := validate_region(region)) else (region, None)


def normalise_region(value: Sequence[float]) -> list[float]:
    """Round a region to 4 decimals (a tenth of a pixel at 1280 px), as it is stored."""
    return [round(float(v), 4) for v in value]


def format_region(region: Sequence[float] | None) -> str:
    """Write a region as the form shows it."""
    return "" if not region else ", ".join(f"{v:g}" for v in region)


def region_pixels(region: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The region in pixels, snapped outward to JPEG's 16x16 blocks and kept inside the frame."""
    x0, y0, x1, y1 = region
    block = JPEG_BLOCK
    left = max(0, math.floor(x0 * width / block) * block)
    top = max(0, math.floor(y0 * height / block) * block)
    right = min(width, math.ceil(x1 * width / block) * block)
    bottom = min(height, math.ceil(y1 * height / block) * block)
    return left, top, right, bottom


# --- frames <-> planes ----------------------------------------------------------------------------

# Formats whose planes the filters read as they are: 8-bit 4:2:0, limited or full range. Anything
# else (an MJPEG camera's 4:2:2, say) is converted to full-range 4:2:0 first.
_PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})


def plane_array(frame: av.VideoFrame, index: int) -> Plane:
    """One plane of a frame as a (height, width) array over the frame's own memory (no copy)."""
    plane = frame.planes[index]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]


def is_full_range(frame: av.VideoFrame) -> bool:
    """Tell whether luma runs 0-255 (JPEG) rather than 16-235 (video)."""
    return frame.format.name.startswith("yuvj") or int(frame.color_range) == 2


class View:
    """What one look shows; `apply` turns each decoded frame into the frame that may be shown."""

    mode: str = VIEW_FULL

    def __init__(self) -> None:
        """One converter per look: FFmpeg sets one up per size and format, then reuses it."""
        self._converter = av.video.reformatter.VideoReformatter()

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """The frame to encode and send: the full picture, unchanged."""
        return frame

    def _planar(self, frame: av.VideoFrame) -> av.VideoFrame:
        if frame.format.name in _PLANAR_420 and not (frame.width % 2 or frame.height % 2):
            return frame
        if frame.width % 2 or frame.height % 2:
            raise FilterError(f"odd frame size {frame.width}x{frame.height}")
        return self._converter.reformat(frame, format="yuvj420p")


class BedAreaView(View):
    """Only the bed area is shown; the rest of the picture is black."""

    mode = VIEW_BED_AREA

    def __init__(self, region: Sequence[float] | None) -> None:
        """Check the region: a bed area without a usable region shows nothing at all."""
        super().__init__()
        if region is None:
            raise FilterError(REGION_REQUIRED)
        if (error := validate_region(region)) is not None:
            raise FilterError(error)
        self.region: Region = tuple(float(v) for v in region)  # type: ignore[assignment]

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A new frame: black with no colour, and the region (snapped to JPEG blocks) copied in."""
        frame = self._planar(frame)
        width, height = frame.width, frame.height
        left, top, right, bottom = region_pixels(self.region, width, height)
        shown = av.VideoFrame(width, height, frame.format.name)
        black = 0 if is_full_range(frame) else 16
        for index, fill in enumerate((black, 128, 128)):
            # 4:2:0: the chroma planes are half as wide and tall; the block grid is even.
            scale = 1 if index == 0 else 2
            target = plane_array(shown, index)
            target[:] = fill
            rows = slice(top // scale, bottom // scale)
            cols = slice(left // scale, right // scale)
            target[rows, cols] = plane_array(frame, index)[rows, cols]
        shown.color_range = frame.color_range
        _same_time(shown, frame)
        return shown


class SilhouetteView(View):
    """Shapes and movement only: a plain light shape on a dark, coarse room, without colour.

    The background model lives in this object, for one look; nothing of it is kept afterwards.
    A region, when set, is drawn as a thin outline so staff can tell "in bed" from "beside it";
    it does not limit the view, since a fall away from the bed must still show.
    """

    mode = VIEW_SILHOUETTE

    def __init__(self, region: Sequence[float] | None = None) -> None:
        """Start with an empty background model."""
        super().__init__()
        if region is not None and (error := validate_region(region)) is not None:
            raise FilterError(error)
        self.region: Region | None = (
            tuple(float(v) for v in region)  # type: ignore[assignment]
            if region is not None
            else None
        )
        self._background: NDArray[np.float32] | None = None
        # Its own scaler: one reformatter alternating between two jobs would set up both anew
        # for every frame (about 14 ms at 1280x720).
        self._enlarger = av.video.reformatter.VideoReformatter()

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Turn a decoded frame into its silhouette (full-range 4:2:0, grey)."""
        frame = self._planar(frame)
        coarse = self.coarse(plane_array(frame, 0), full_range=is_full_range(frame))
        grid = av.VideoFrame.from_ndarray(coarse, format="gray")
        # Enlarged smoothly by FFmpeg's bilinear scaler: soft outlines, no staircase of cells,
        # and nothing finer than a cell, since a cell is all the grid knows. The grid leaves out
        # less than a cell at the right and bottom; stretching over it is invisible.
        shown = self._enlarger.reformat(
            grid,
            width=frame.width,
            height=frame.height,
            format="yuvj420p",
            interpolation="BILINEAR",
        )
        if self.region is not None:
            _draw_outline(plane_array(shown, 0), self.region)
        _same_time(shown, frame)
        return shown

    def cell_size(self, width: int) -> int:
        """Pixels per cell: 1/80 of the width, at least 4."""
        return max(4, width // _CELLS_ACROSS)

    def coarse(self, luma: Plane, *, full_range: bool = True) -> Plane:
        """The silhouette on the cell grid: dark room tones and the person's light tone."""
        cells = self.cells(luma, full_range=full_range)
        shape = self.shape_mask(cells)
        tones = np.asarray(_ROOM_TONES, dtype=np.uint8)
        level = np.clip(cells * _ROOM_GAIN / 256 * len(tones), 0, len(tones) - 1).astype(np.intp)
        return np.ascontiguousarray(np.where(shape, np.uint8(_SHAPE_TONE), tones[level]))

    def cells(self, luma: Plane, *, full_range: bool = True) -> NDArray[np.float32]:
        """The luma averaged over cells (full range): nothing smaller than a cell survives."""
        height, width = luma.shape
        cell = self.cell_size(width)
        rows, cols = height // cell, width // cell
        if rows < 3 or cols < 3:
            raise FilterError(f"frame too small for a silhouette: {width}x{height}")
        blocks = luma[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
        cells: NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
        if not full_range:
            cells = (cells - 16) * np.float32(255 / 219)
        return cells

    def shape_mask(self, cells: NDArray[np.float32]) -> NDArray[np.bool_]:
        """The cells that belong to a person (bright shape or movement); updates the model."""
        if self._background is None or self._background.shape != cells.shape:
            self._background = cells.copy()
        moved = np.abs(cells - self._background) > _MOTION_STEP
        self._background += _BACKGROUND_RATE * (cells - self._background)
        window = max(3, round(_ROOM_SCALE * cells.shape[0]) | 1)
        room = _dilate(_erode(cells, window), window)
        bright = cells - room > _BRIGHT_STEP
        return _without_lone_cells(bright | moved)


def make_view(mode: str, region: Sequence[float] | None) -> View:
    """The view of a look in `mode`; raises `FilterError` if it cannot be made."""
    if mode == VIEW_FULL:
        return View()
    if mode == VIEW_BED_AREA:
        return BedAreaView(region)
    if mode == VIEW_SILHOUETTE:
        return SilhouetteView(region)
    raise FilterError(f"unknown view mode {mode!r}")


# --- helpers --------------------------------------------------------------------------------------


def _same_time(shown: av.VideoFrame, frame: av.VideoFrame) -> None:
    if frame.time_base is not None:
        shown.pts, shown.time_base = frame.pts, frame.time_base


def _slide(values: NDArray[np.float32], window: int, axis: int, reduce: str) -> NDArray[np.float32]:
    """Minimum or maximum over a centred window along one axis, edges repeated."""
    half = window // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    padded = np.pad(values, pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis)
    slid: NDArray[np.float32] = windows.min(axis=-1) if reduce == "min" else windows.max(axis=-1)
    return slid


def _erode(values: NDArray[np.float32], window: int) -> NDArray[np.float32]:
    return _slide(_slide(values, window, 0, "min"), window, 1, "min")


def _dilate(values: NDArray[np.float32], window: int) -> NDArray[np.float32]:
    return _slide(_slide(values, window, 0, "max"), window, 1, "max")


def _without_lone_cells(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Drop cells with fewer than two marked neighbours (noise, not a person)."""
    padded = np.pad(mask, 1).astype(np.uint8)
    neighbours = sum(
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    return mask & (neighbours >= 2)


def _draw_outline(luma: Plane, region: Region) -> None:
    height, width = luma.shape
    x0, y0, x1, y1 = region
    left, right = round(x0 * (width - 1)), round(x1 * (width - 1))
    top, bottom = round(y0 * (height - 1)), round(y1 * (height - 1))
    thick = max(1, width // 320)
    for rows, cols in (
        (slice(top, top + thick), slice(left, right + 1)),
        (slice(bottom - thick + 1, bottom + 1), slice(left, right + 1)),
        (slice(top, bottom + 1), slice(left, left + thick)),
        (slice(top, bottom + 1), slice(right - thick + 1, right + 1)),
    ):
        luma[rows, cols] = _OUTLINE_TONE
