"""Make the README's pictures of the sensor view from the project's own generated night scene.

    .venv/bin/python scripts/view_pictures.py [--out docs]

Writes `view-full.png`, `view-bed_area.png` and `view-silhouette.png`: each shows the same two
moments, the person in bed and the person on the floor beside it (with the checkerboard "face"
the privacy tests use), as a client receives them from the gate: generated as H.264, decoded by
PyAV, filtered by `view_filter`, encoded by the gate's JPEG encoder and decoded again. No camera
is involved and nothing else is written.
"""

import argparse
import io
from pathlib import Path
import sys
import tempfile

import av
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custom_components.trygghetskamera import media, view_filter  # noqa: E402
from simulators import scenes  # noqa: E402

SIZE = (640, 480)
FPS = 10
# Long enough for the silhouette's background model to settle, as a few seconds into a look.
SECONDS = 3
BED_REGION = [0.3, 0.45, 0.95, 0.9]
POSES: tuple[scenes.Pose, ...] = ("in_bed", "on_floor")


def last_shown(video: Path, mode: str) -> Image.Image:
    """The last frame of `video` in `mode`, as the browser decodes it."""
    view = view_filter.make_view(mode, BED_REGION)
    jpeg = b""
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            jpeg = media.encode_jpeg(view.apply(frame), 75)
    return Image.open(io.BytesIO(jpeg)).convert("RGB")


def main() -> None:
    """Write one picture per view mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        videos = {}
        for pose in POSES:
            videos[pose] = Path(folder) / f"{pose}.mp4"
            scenes.generate_night_scene(
                videos[pose], seconds=SECONDS, fps=FPS, size=SIZE, pose=pose, face=True
            )
        for mode in view_filter.VIEW_MODES:
            shots = [last_shown(videos[pose], mode) for pose in POSES]
            gap = 8
            sheet = Image.new("RGB", (SIZE[0] * len(shots) + gap, SIZE[1]), "white")
            for index, shot in enumerate(shots):
                sheet.paste(shot, (index * (SIZE[0] + gap), 0))
            target = args.out / f"view-{mode}.png"
            sheet.resize((sheet.width // 2, sheet.height // 2), Image.Resampling.LANCZOS).save(
                target, optimize=True
            )
            print(target)


if __name__ == "__main__":
    main()
