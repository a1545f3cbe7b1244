"""The repository a municipal IT team adopts: brand images, quality scale, licence, documents.

The documents are checked against the code, so that the public contract a user reads in `docs/`
names every entity, action, event, websocket command, HTTP path, option, audit record kind and
repair issue the integration really has, and links nothing outside the repository.
"""

from collections.abc import Iterator
import importlib
import inspect
import json
from pathlib import Path
import pkgutil
import re
import subprocess
from typing import Any
from urllib.parse import quote

import homeassistant.components
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import yaml

import custom_components.trygghetskamera as package
from custom_components.trygghetskamera import const

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "trygghetskamera"
BRAND = COMPONENT / "brand"
DOCS = ROOT / "docs"
HA_COMPONENTS = Path(homeassistant.components.__path__[0])
REPOSITORY = "https://github.com/trygghetskamera/trygghetskamera"
RAW = "https://raw.githubusercontent.com/trygghetskamera/trygghetskamera/main"


# --- brand images --------------------------------------------------------------------------


def _brand(name: str) -> Image.Image:
    image = Image.open(BRAND / name)
    image.load()
    return image


@pytest.mark.parametrize("prefix", ["", "dark_"])
@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_icons_are_square_at_the_sizes_home_assistant_asks(
    prefix: str, name: str, size: int
) -> None:
    image = _brand(prefix + name)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.size == (size, size)


@pytest.mark.parametrize("prefix", ["", "dark_"])
@pytest.mark.parametrize(("name", "short_side"), [("logo.png", 128), ("logo@2x.png", 256)])
def test_logos_have_the_shortest_side_home_assistant_asks(
    prefix: str, name: str, short_side: int
) -> None:
    image = _brand(prefix + name)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert min(image.size) == short_side
    assert image.width > image.height  # a logo is landscape: emblem and name


@pytest.mark.parametrize(
    "name",
    [
        f"{prefix}{kind}{scale}.png"
        for prefix in ("", "dark_")
        for kind in ("icon", "logo")
        for scale in ("", "@2x")
    ],
)
def test_brand_images_are_transparent_and_trimmed(name: str) -> None:
    image = _brand(name)
    alpha = image.getchannel("A")
    # Transparent background: the corners show nothing.
    corners = [(0, 0), (image.width - 1, 0), (0, image.height - 1)]
    assert all(alpha.getpixel(corner) == 0 for corner in corners)
    # Something is drawn, and trimmed: the drawing reaches the edges of its longer side (an icon
    # keeps its square, so only the taller side is trimmed there), and all four for a logo.
    box = alpha.point(lambda a: 255 if a > 8 else 0).getbbox()
    assert box is not None
    left, top, right, bottom = box
    assert (top, bottom) == (0, image.height)
    if name.removeprefix("dark_").startswith("logo"):
        assert (left, right) == (0, image.width)


async def test_home_assistant_serves_the_integrations_own_icon(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """Home Assistant's brands integration serves a custom integration's `brand/` files."""
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for name in ("icon.png", "logo@2x.png", "dark_icon.png"):
        response = await client.get(f"/api/brands/integration/trygghetskamera/{name}")
        assert response.status == 200, name
        assert await response.read() == (BRAND / name).read_bytes()


# --- quality scale ---------------------------------------------------------------------------


def installed_quality_scale_rules() -> set[str]:
    """The rules of the installed Home Assistant's quality scale.

    hassfest (not shipped in the package) requires every core integration's quality_scale.yaml
    to list every rule, so the rules are the ones all shipped files have in common.
    """
    common: set[str] | None = None
    for path in HA_COMPONENTS.glob("*/quality_scale.yaml"):
        rules = set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rules") or {})
        common = rules if common is None else common & rules
    assert common, "the installed Home Assistant ships no quality_scale.yaml"
    return common


def test_quality_scale_rates_every_rule_of_the_installed_home_assistant() -> None:
    rules = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text(encoding="utf-8"))["rules"]
    expected = installed_quality_scale_rules()
    # As published at the time of writing: 18 bronze (+2 docs), 10 silver, 21 gold, 3 platinum.
    assert len(expected) >= 50
    assert set(rules) == expected
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "todo", "exempt"}, name
        if status != "done":
            # Exempt and todo say why.
            assert isinstance(rule, dict), name
            assert len(rule.get("comment", "").strip()) > 20, name


# --- licence ---------------------------------------------------------------------------------


def test_licence_is_the_eupl_and_the_readme_says_why() -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    assert "Appendix" in licence
    assert "Compatible Licences" in licence
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "EUPL-1.2" in readme
    assert "(LICENSE)" in readme


# --- documents: nothing outside the repository -----------------------------------------------


def _tracked_text_files() -> Iterator[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for raw in listed:
        path = ROOT / raw.decode()
        if raw and path.is_file() and path.suffix in {".py", ".md", ".yaml", ".json", ".js", ""}:
            yield path


# Built from parts so that this file does not name them itself.
OUTSIDE = re.compile(
    "|".join(
        re.escape(part)
        for part in ("../" + "shared", "/work/" + "shared", "DESIGN" + ".md", "seeds" + "/")
    )
)


def test_nothing_refers_to_files_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _tracked_text_files()
        if path.name != "LICENSE"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "document", ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))]
)
def test_every_relative_link_resolves_inside_the_repository(document: str) -> None:
    path = ROOT / document
    for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), target
        assert resolved.exists(), target


def test_readme_links_the_documents_and_imports_every_blueprint() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for document in ("contract.md", "operations.md", "staff-guide.sv.md", "staff-guide.en.md"):
        assert f"(docs/{document})" in readme, document
    blueprints = sorted((ROOT / "blueprints" / "automation" / "trygghetskamera").glob("*.yaml"))
    assert blueprints
    for blueprint in blueprints:
        raw = f"{RAW}/{blueprint.relative_to(ROOT)}"
        link = "https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url=" + quote(
            raw, safe=""
        )
        assert link in readme, blueprint.name
    manifest = json.loads((COMPONENT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["documentation"] == REPOSITORY
    assert REPOSITORY in readme


def test_readme_keeps_the_order_a_new_user_reads_it_in() -> None:
    headings = [
        line.removeprefix("## ").strip()
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]

    def first(word: str) -> int:
        return next(i for i, heading in enumerate(headings) if word in heading.lower())

    order = [first(word) for word in ("install", "adding a home", "night", "blueprint", "demo")]
    assert order == sorted(order), headings


# --- documents: the public contract, checked against the code ---------------------------------


def _modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        yield importlib.import_module(info.name)


def _contract() -> str:
    return (DOCS / "contract.md").read_text(encoding="utf-8")


def _named(text: str, name: str) -> bool:
    return f"`{name}`" in text or f"`{name} " in text or f"`{name}(" in text


def test_contract_names_every_entity_key() -> None:
    keys = {
        description.key
        for module in _modules()
        for value in vars(module).values()
        for description in (value if isinstance(value, tuple) else (value,))
        # By name: Home Assistant's frozen-dataclass shim makes platform descriptions other
        # classes than `EntityDescription` as imported here.
        if any(cls.__name__ == "EntityDescription" for cls in type(description).__mro__)
    }
    assert {"status", "visit_required", "consent", "supervision", "test_camera"} <= keys
    contract = _contract()
    assert [key for key in sorted(keys) if not _named(contract, key)] == []


def test_contract_names_every_action() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    contract = _contract()
    missing = [name for name in services if f"`trygghetskamera.{name}`" not in contract]
    assert missing == []
    for name, service in services.items():
        for field in service.get("fields") or {}:
            assert _named(contract, field), f"{name}.{field}"


def test_contract_names_every_bus_event_and_option() -> None:
    contract = _contract()
    events = [value for name, value in vars(const).items() if name.startswith("EVENT_")]
    options = [value for name, value in vars(const).items() if name.startswith("CONF_")]
    assert events
    assert options
    assert [event for event in events if not _named(contract, event)] == []
    assert [option for option in options if not _named(contract, option)] == []


def test_contract_names_every_websocket_command_and_http_path() -> None:
    commands = {
        function._ws_command
        for module in _modules()
        for function in vars(module).values()
        if isinstance(getattr(function, "_ws_command", None), str)
        and function._ws_command.startswith("trygghetskamera/")
    }
    views = {
        value.url
        for module in _modules()
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, HomeAssistantView)
        and value.__module__.startswith(package.__name__)
        and isinstance(value.url, str)
    }
    assert "trygghetskamera/session/start" in commands
    assert "/api/trygghetskamera/session/{session_id}/mjpeg" in views
    contract = _contract()
    assert [command for command in sorted(commands) if not _named(contract, command)] == []
    assert [url for url in sorted(views) if url not in contract] == []


AUDIT_KIND_IN_CODE = re.compile(
    r"""(?:\.audit|async_append|_audit_record)\(\s*["']([a-z][a-z0-9_]*)["']""", re.MULTILINE
)
# A kind chosen by a condition: `async_append("a" if … else "b", …)`.
AUDIT_KIND_ALTERNATIVE = re.compile(
    r"""async_append\(\s*["'][a-z_]+["']\s+if\s[^\n]*?\selse\s+["']([a-z][a-z0-9_]*)["']"""
)


def test_contract_names_every_audit_record_kind() -> None:
    from custom_components.trygghetskamera.supervision import EventType

    kinds = {str(event_type) for event_type in EventType} | {"purge"}
    for path in COMPONENT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        kinds |= set(AUDIT_KIND_IN_CODE.findall(text)) | set(AUDIT_KIND_ALTERNATIVE.findall(text))
    assert {"session_started", "stream_denied", "home_removed"} <= kinds
    contract = _contract()
    assert [kind for kind in sorted(kinds) if not _named(contract, kind)] == []


def test_operations_explains_every_repair_issue() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    operations = (DOCS / "operations.md").read_text(encoding="utf-8")
    issues = sorted(strings["issues"])
    assert "fault_camera" in issues
    assert [issue for issue in issues if not _named(operations, issue)] == []


def test_contract_names_every_translated_error() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    contract = _contract()
    errors = sorted(strings["exceptions"])
    assert "unknown_device" in errors
    assert [error for error in errors if not _named(contract, error)] == []


def _slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    return {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in markdown.splitlines()
        if line.startswith("#")
    }


@pytest.mark.parametrize(
    "document", ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))]
)
def test_every_link_to_a_section_finds_its_heading(document: str) -> None:
    path = ROOT / document
    for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or "#" not in target:
            continue
        file, anchor = target.split("#", 1)
        linked = (path.parent / file).resolve() if file else path
        assert anchor in _slugs(linked.read_text(encoding="utf-8")), target
