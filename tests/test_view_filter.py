"""The sensor view on real decoded video: what each mode lets through, and what it never does.

The videos are H.264 night scenes the tests generate (a person in the bed, on the floor beside
it, or absent, with a checkerboard "face"), decoded by PyAV, filtered, encoded as JPEG by the
gate's own encoder and decoded again, as a browser would.
"""

from collections.abc import Iterator
import io
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image
import pytest

from custom_components.trygghetskamera import media, view_filter
from custom_components.trygghetskamera.view_filter import (
    BedAreaView,
    FilterError,
    SilhouetteView,
    View,
    make_view,
    parse_region_text,
    region_pixels,
    validate_region,
)
from simulators.scenes import SCENE_BED, SCENE_FLOOR_Y, generate_night_scene, scene_face_box

SIZE = (640, 480)
FPS = 10
SECONDS = 4
BED = SCENE_BED
# Light enough to be the silhouette's person, whatever JPEG does to the edges.
SHAPE_LEVEL = 160


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real H.264 night scene per pose, each with a checkerboard face on the person."""
    folder = tmp_path_factory.mktemp("poses")
    paths = {}
    for pose in ("in_bed", "on_floor", "absent"):
        paths[pose] = folder / f"{pose}.mp4"
        generate_night_scene(paths[pose], seconds=SECONDS, fps=FPS, size=SIZE, pose=pose, face=True)
    return paths


def decoded(path: Path) -> Iterator[tuple[float, av.VideoFrame]]:
    """Every frame of a video as PyAV decodes it, with its time in seconds."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield float(frame.time or 0.0), frame


def as_client_sees(frame: av.VideoFrame) -> NDArray[np.float64]:
    """Encode as the gate does, decode as a browser does; return the luma plane."""
    image = Image.open(io.BytesIO(media.encode_jpeg(frame, 75)))
    image.draft("YCbCr", image.size)
    return np.asarray(image, dtype=np.float64)[..., 0]


def laplacian_variance(luma: NDArray[np.float64]) -> float:
    """Detail: the variance of the 4-neighbour Laplacian (0 for a flat or linear area)."""
    laplacian = (
        luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * luma[1:-1, 1:-1]
    )
    return float(laplacian.var()) if laplacian.size else 0.0


def box(luma: NDArray[np.float64], x0: int, y0: int, x1: int, y1: int) -> NDArray[np.float64]:
    return luma[max(0, y0) : y1, max(0, x0) : x1]


def light_shape(luma: NDArray[np.float64]) -> tuple[float, tuple[float, float] | None]:
    """The silhouette's light shape: its share of the picture and its centre (relative)."""
    ys, xs = np.nonzero(luma > SHAPE_LEVEL)
    share = len(xs) / luma.size
    if not len(xs):
        return 0.0, None
    return share, (xs.mean() / luma.shape[1], ys.mean() / luma.shape[0])


# --- the region -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "error"),
    [
        ([0.3, 0.45, 0.95, 0.9], None),
        ([0, 0, 1, 1], None),
        ((0.1, 0.1, 0.2, 0.2), None),
        ([0.3, 0.45, 0.95], "region_format"),
        ("0.3, 0.45, 0.95, 0.9", "region_format"),
        ([0.3, 0.45, 0.95, None], "region_format"),
        ([0.3, 0.45, True, 0.9], "region_format"),
        ([0.3, 0.45, float("nan"), 0.9], "region_format"),
        (None, "region_format"),
        ([-0.1, 0.45, 0.95, 0.9], "region_outside"),
        ([0.3, 0.45, 1.2, 0.9], "region_outside"),
        ([0.95, 0.45, 0.3, 0.9], "region_order"),
        ([0.3, 0.9, 0.95, 0.9], "region_order"),
        ([0.3, 0.45, 0.35, 0.9], "region_too_small"),
        ([0.3, 0.45, 0.95, 0.5], "region_too_small"),
    ],
)
def test_a_bed_area_lies_inside_the_picture_in_order_and_big_enough(
    region: object, error: str | None
) -> None:
    assert validate_region(region) == error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (None, None)),
        ("  ", (None, None)),
        ("0.3, 0.45, 0.95, 0.9", ([0.3, 0.45, 0.95, 0.9], None)),
        ("[0.3 0.45 0.95 0.9]", ([0.3, 0.45, 0.95, 0.9], None)),
        ("0.3; 0.45; 0.95; 0.9", ([0.3, 0.45, 0.95, 0.9], None)),
        ("0.3, 0.45, 0.95", (None, "region_format")),
        ("a, b, c, d", (None, "region_format")),
        ("0.3, 0.45, 1.95, 0.9", (None, "region_outside")),
        ("0.3, 0.45, 0.32, 0.9", (None, "region_too_small")),
    ],
)
def test_a_typed_bed_area_is_read_and_checked(
    text: str, expected: tuple[list[float] | None, str | None]
) -> None:
    assert parse_region_text(text) == expected


def test_the_bed_area_snaps_outward_to_whole_jpeg_blocks() -> None:
    left, top, right, bottom = region_pixels([0.3, 0.45, 0.95, 0.9], 640, 480)
    assert (left, top, right, bottom) == (192, 208, 608, 432)
    assert all(v % 16 == 0 for v in (left, top, right, bottom))
    assert left <= 0.3 * 640
    assert right >= 0.95 * 640
    assert top <= 0.45 * 480
    assert bottom >= 0.9 * 480
    assert region_pixels([0, 0, 1, 1], 1366, 768) == (0, 0, 1366, 768)


# --- failing closed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "region"),
    [
        ("blur", None),
        ("bed_area", None),
        ("bed_area", [0.5, 0.5, 0.4, 0.9]),
        ("silhouette", [0, 0, 2, 2]),
    ],
)
def test_a_view_that_cannot_be_made_raises_instead_of_showing_more(
    mode: str, region: list[float] | None
) -> None:
    with pytest.raises(FilterError):
        make_view(mode, region)


def test_the_full_view_is_the_decoded_frame_itself(scenes: dict[str, Path]) -> None:
    _t, frame = next(decoded(scenes["in_bed"]))
    view = make_view("full", None)
    assert type(view) is View
    assert view.apply(frame) is frame


def test_a_silhouette_of_a_picture_too_small_for_cells_fails() -> None:
    tiny = av.VideoFrame(16, 8, "yuv420p")
    with pytest.raises(FilterError):
        SilhouetteView().apply(tiny)


# --- bed area -------------------------------------------------------------------------------------


def test_bed_area_leaves_no_detail_outside_the_region(scenes: dict[str, Path]) -> None:
    region = [0.3, 0.45, 0.95, 0.9]
    view = BedAreaView(region)
    left, top, right, bottom = region_pixels(region, *SIZE)
    outside = np.ones((SIZE[1], SIZE[0]), dtype=bool)
    outside[top:bottom, left:right] = False
    frames = 0
    for _t, frame in decoded(scenes["in_bed"]):
        seen = as_client_sees(view.apply(frame))
        original = as_client_sees(frame)
        # Outside: one flat black, so no detail at all (nor in the strips above and below).
        assert seen[outside].min() == seen[outside].max() == 0
        assert laplacian_variance(seen[:top]) == 0.0
        assert laplacian_variance(seen[bottom:]) == 0.0
        assert laplacian_variance(seen[:, :left]) == 0.0
        # Inside: the bed as the camera shows it, face included.
        inside = box(seen, left, top, right, bottom)
        assert np.abs(inside - box(original, left, top, right, bottom)).mean() < 2.0
        assert laplacian_variance(inside) > 10.0
        frames += 1
    assert frames == SECONDS * FPS


def test_bed_area_takes_any_decoded_format(scenes: dict[str, Path]) -> None:
    """An MJPEG camera decodes to full-range 4:2:2; the filter converts before it works."""
    _t, frame = next(decoded(scenes["in_bed"]))
    shown = BedAreaView([0.3, 0.45, 0.95, 0.9]).apply(frame.reformat(format="yuvj422p"))
    assert shown.format.name == "yuvj420p"
    assert as_client_sees(shown)[:100].max() == 0


# --- silhouette -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pose", ["in_bed", "on_floor"])
def test_silhouette_hides_the_face_but_shows_where_the_person_is(
    scenes: dict[str, Path], pose: str
) -> None:
    view = SilhouetteView(list(BED))
    width, height = SIZE
    checked = 0
    for t, frame in decoded(scenes[pose]):
        seen = as_client_sees(view.apply(frame))
        original = as_client_sees(frame)
        x0, y0, x1, y1 = scene_face_box(SIZE, pose, t)  # type: ignore[arg-type]
        inner = (x0 + 2, y0 + 2, x1 - 2, y1 - 2)
        face_detail = laplacian_variance(box(original, *inner))
        assert face_detail > 1000, "the scene's face has no detail to hide"
        # The face is part of a plain shape: its detail is gone, not just reduced...
        assert laplacian_variance(box(seen, *inner)) < 0.02 * face_detail
        # ... and nothing of the pattern can be read back: projected on the checkerboard the
        # client saw in the full view, the silhouette carries a few percent of its energy.
        pattern = box(original, *inner) - box(original, *inner).mean()
        filtered = box(seen, *inner) - box(seen, *inner).mean()
        projection = float((pattern * filtered).sum() / (pattern * pattern).sum())
        assert abs(projection) < 0.05, projection
        share, centre = light_shape(seen)
        assert centre is not None, t
        assert share > 0.01, t
        x, y = centre
        if pose == "in_bed":
            assert BED[0] < x < BED[2], centre
            assert BED[1] < y < BED[3], centre
        else:
            # On the floor, beside the bed: left of it and below the wall.
            assert x < BED[0], centre
            assert y > SCENE_FLOOR_Y, centre
        checked += 1
    assert checked == SECONDS * FPS
    assert width * height > 0


def test_silhouette_of_an_empty_room_has_no_person(scenes: dict[str, Path]) -> None:
    view = SilhouetteView(list(BED))
    for _t, frame in decoded(scenes["absent"]):
        share, _centre = light_shape(as_client_sees(view.apply(frame)))
        assert share < 0.001


def test_in_bed_out_of_bed_and_on_the_floor_tell_apart(scenes: dict[str, Path]) -> None:
    """What the look is for: a stranger to the scene can tell the three apart from the shape."""

    def judge(pose: str) -> str:
        view = SilhouetteView(list(BED))
        verdicts = set()
        for _t, frame in decoded(scenes[pose]):
            share, centre = light_shape(as_client_sees(view.apply(frame)))
            if centre is None or share < 0.005:
                verdicts.add("out of bed")
            elif BED[0] <= centre[0] <= BED[2] and BED[1] <= centre[1] <= BED[3]:
                verdicts.add("in bed")
            else:
                verdicts.add("on the floor")
        assert len(verdicts) == 1, verdicts
        return verdicts.pop()

    assert judge("in_bed") == "in bed"
    assert judge("absent") == "out of bed"
    assert judge("on_floor") == "on the floor"


def test_each_look_has_its_own_background_model(scenes: dict[str, Path]) -> None:
    """The model is built from this look's frames only and starts empty for the next."""
    frames = [frame for _t, frame in decoded(scenes["in_bed"])]
    first = SilhouetteView()
    for frame in frames:
        first.apply(frame)
    second = SilhouetteView()
    assert second._background is None
    assert first._background is not None
    # The same first frame gives the same picture in any fresh look: nothing carried over.
    again = SilhouetteView()
    assert np.array_equal(second.apply(frames[0]).to_ndarray(), again.apply(frames[0]).to_ndarray())
    assert first.mode == view_filter.VIEW_SILHOUETTE
