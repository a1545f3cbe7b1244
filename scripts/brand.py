"""Draw the integration's brand images into custom_components/trygghetskamera/brand/.

    .venv/bin/python scripts/brand.py

The emblem is the project's own: a shield (the home's safety) holding a camera lens whose pupil
is a crescent moon (a look at night), with one star. The logo is the emblem and the name. Sizes
follow Home Assistant's brands rules: icons square, 256 and 512 px; logos 128 and 256 px high;
transparent background, trimmed to the drawing. `dark_` variants are for dark themes. Drawn at
four times the size and scaled down, so edges are smooth. Needs Pillow and the DejaVu fonts
(Debian's `fonts-dejavu-core`).
"""

from collections.abc import Iterable
import math
from pathlib import Path
import sys

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "trygghetskamera" / "brand"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
NAME = "Trygghetskamera"
SUPERSAMPLE = 4

# (shield, lens ring, night inside the lens, moon and star, name) per theme.
LIGHT = ("#1f3a60", "#ffffff", "#10223d", "#f5c542", "#1f3a60")
DARK = ("#3e6aa8", "#ffffff", "#10223d", "#f5c542", "#e8eef7")

type Colours = tuple[str, str, str, str, str]
type Point = tuple[float, float]


def _shield(size: int) -> list[Point]:
    """A shield outline: flat top with rounded shoulders, sides curving to a point below."""
    s = size
    top, shoulder, left, right = 0.04 * s, 0.14 * s, 0.08 * s, 0.92 * s
    points: list[Point] = []
    # Left shoulder (quarter circle), top edge, right shoulder.
    for step in range(11):
        a = math.pi + step * (math.pi / 2) / 10
        points.append(
            (left + shoulder + shoulder * math.cos(a), top + shoulder + shoulder * math.sin(a))
        )
    for step in range(11):
        a = 1.5 * math.pi + step * (math.pi / 2) / 10
        points.append(
            (right - shoulder + shoulder * math.cos(a), top + shoulder + shoulder * math.sin(a))
        )
    # Right side down to the point, then the left side back up (quadratic curves).
    bottom = (0.5 * s, 0.97 * s)
    points += _curve((right, 0.5 * s), (right, 0.78 * s), bottom)
    points += _curve(bottom, (left, 0.78 * s), (left, 0.5 * s))
    return points


def _curve(start: Point, control: Point, end: Point, steps: int = 24) -> list[Point]:
    return [
        (
            (1 - t) ** 2 * start[0] + 2 * (1 - t) * t * control[0] + t**2 * end[0],
            (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * control[1] + t**2 * end[1],
        )
        for t in (i / steps for i in range(steps + 1))
    ]


def _star(cx: float, cy: float, outer: float) -> list[Point]:
    inner = outer * 0.42
    return [
        (
            cx + (outer if i % 2 == 0 else inner) * math.sin(i * math.pi / 5),
            cy - (outer if i % 2 == 0 else inner) * math.cos(i * math.pi / 5),
        )
        for i in range(10)
    ]


def _disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: str) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)


def emblem(size: int, colours: Colours) -> Image.Image:
    """The emblem on a transparent square of `size` pixels (before trimming)."""
    shield, ring, night, moon, _ = colours
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon(_shield(big), fill=shield)
    cx, cy = 0.5 * big, 0.47 * big
    _disc(draw, cx, cy, 0.30 * big, ring)
    _disc(draw, cx, cy, 0.245 * big, night)
    # The crescent: a moon disc with a night-coloured disc taken out of its upper right.
    _disc(draw, cx - 0.02 * big, cy + 0.01 * big, 0.15 * big, moon)
    _disc(draw, cx + 0.055 * big, cy - 0.045 * big, 0.13 * big, night)
    draw.polygon(_star(cx + 0.1 * big, cy - 0.07 * big, 0.04 * big), fill=moon)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def trim(image: Image.Image) -> Image.Image:
    """Cut the transparent margin away."""
    box = image.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box is None:
        raise ValueError("nothing drawn")
    return image.crop(box)


def icon(size: int, colours: Colours) -> Image.Image:
    """A square icon: the trimmed emblem centred on a transparent square of `size` pixels."""
    drawn = trim(emblem(size * 2, colours))
    scale = size / max(drawn.size)
    drawn = drawn.resize(
        (round(drawn.width * scale), round(drawn.height * scale)), Image.Resampling.LANCZOS
    )
    square = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    square.alpha_composite(drawn, ((size - drawn.width) // 2, (size - drawn.height) // 2))
    return square


def logo(height: int, colours: Colours) -> Image.Image:
    """The emblem and the name, `height` pixels high, trimmed."""
    big = height * SUPERSAMPLE
    mark = trim(emblem(big, colours))
    mark = mark.resize((round(mark.width * big / mark.height), big), Image.Resampling.LANCZOS)
    font = ImageFont.truetype(str(FONT), round(big * 0.42))
    left, top, right, bottom = font.getbbox(NAME)
    gap = round(big * 0.18)
    image = Image.new("RGBA", (mark.width + gap + right - left, big), (0, 0, 0, 0))
    image.alpha_composite(mark, (0, 0))
    ImageDraw.Draw(image).text(
        (mark.width + gap - left, (big - (bottom - top)) // 2 - top),
        NAME,
        font=font,
        fill=colours[4],
    )
    image = trim(image)
    width = round(image.width * height / image.height)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def images() -> Iterable[tuple[str, Image.Image]]:
    """Every brand file and its picture."""
    for prefix, colours in (("", LIGHT), ("dark_", DARK)):
        yield f"{prefix}icon.png", icon(256, colours)
        yield f"{prefix}icon@2x.png", icon(512, colours)
        yield f"{prefix}logo.png", logo(128, colours)
        yield f"{prefix}logo@2x.png", logo(256, colours)


def main() -> int:
    """Write the brand images."""
    BRAND.mkdir(parents=True, exist_ok=True)
    for name, image in images():
        image.save(BRAND / name, optimize=True)
        print(f"{name}: {image.width}x{image.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
