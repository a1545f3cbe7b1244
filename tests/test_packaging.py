"""HACS and hassfest rules for the manifest, hacs.json and the translations."""

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.const import __version__ as ha_version
import yaml

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "trygghetskamera"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest_has_every_key_hassfest_and_hacs_require() -> None:
    manifest = load(COMPONENT / "manifest.json")
    for key in (
        "domain",
        "name",
        "version",
        "codeowners",
        "config_flow",
        "documentation",
        "issue_tracker",
        "iot_class",
        "requirements",
        "dependencies",
        "integration_type",
    ):
        assert key in manifest, key
    assert manifest["domain"] == "trygghetskamera" == COMPONENT.name
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] in {
        "assumed_state",
        "cloud_polling",
        "cloud_push",
        "local_polling",
        "local_push",
        "calculated",
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    # hassfest: keys after domain and name are sorted.
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    # Every requirement pinned exactly, PyAV among them.
    assert all(
        re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", req) for req in manifest["requirements"]
    )
    assert any(req.startswith("av==") for req in manifest["requirements"])


def test_manifest_requirements_match_the_test_environment() -> None:
    from importlib.metadata import version

    for requirement in load(COMPONENT / "manifest.json")["requirements"]:
        name, pinned = requirement.split("==")
        assert version(name) == pinned, name


def test_hacs_json() -> None:
    hacs = load(ROOT / "hacs.json")
    assert hacs["name"]
    assert hacs["render_readme"] is True
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", hacs["homeassistant"])
    minimum = tuple(int(part) for part in hacs["homeassistant"].split("."))
    running = tuple(int(part) for part in ha_version.split(".")[:3])
    assert minimum <= running
    assert minimum >= (2026, 10, 0)
    assert (ROOT / "README.md").is_file()


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if isinstance(tree, dict):
        return set().union(*(_keys(value, f"{prefix}.{key}") for key, value in tree.items()))
    return {prefix}


def test_english_translation_is_strings_json() -> None:
    assert load(COMPONENT / "translations" / "en.json") == load(COMPONENT / "strings.json")


def test_swedish_translates_every_string() -> None:
    english = load(COMPONENT / "strings.json")
    swedish = load(COMPONENT / "translations" / "sv.json")
    assert _keys(swedish) == _keys(english)
    # Placeholders survive translation.
    flat_en = dict(_flat(english))
    for key, text in _flat(swedish):
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", flat_en[key])), key


def _flat(tree: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(tree, dict):
        return [pair for key, value in tree.items() for pair in _flat(value, f"{prefix}.{key}")]
    return [(prefix, tree)]


def test_services_yaml_matches_strings() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    strings = load(COMPONENT / "strings.json")["services"]
    assert set(services) == set(strings)
    for name, service in services.items():
        assert set(service.get("fields", {})) == set(strings[name]["fields"])


def test_icons_cover_every_service_and_entity() -> None:
    icons = load(COMPONENT / "icons.json")
    strings = load(COMPONENT / "strings.json")
    assert set(icons["services"]) >= set(strings["services"])
    for platform, entities in strings["entity"].items():
        assert set(icons["entity"][platform]) == set(entities), platform
