"""HACS and hassfest rules for the manifest, hacs.json and the translations."""

from importlib.metadata import version
import json
from pathlib import Path
import re
import string
from typing import Any

import homeassistant
from homeassistant.const import __version__ as ha_version
from packaging.requirements import Requirement
import yaml

from .ha_constraints import conflicts, release_constraints, supported_releases

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
    # PyAV, numpy and the ONVIF client (for keyframes on demand), each bounded on both sides:
    # Home Assistant installs them under its own constraints, so an open range would meet
    # whatever a future HA pins unchecked.
    requirements = [Requirement(line) for line in manifest["requirements"]]
    assert {req.name for req in requirements} == {"av", "numpy", "onvif-zeep-async"}
    for req in requirements:
        operators = {spec.operator for spec in req.specifier}
        assert operators == {"=="} or {">=", "<"} <= operators, req


def test_manifest_requirements_are_what_the_test_environment_runs() -> None:
    for line in load(COMPONENT / "manifest.json")["requirements"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(version(requirement.name)), line


def test_manifest_requirements_install_under_the_installed_home_assistant() -> None:
    """What HA does at start-up: install the requirements with its constraints."""
    constraints = (Path(homeassistant.__file__).parent / "package_constraints.txt").read_text()
    requirements = load(COMPONENT / "manifest.json")["requirements"]
    assert conflicts(requirements, constraints) == []


def test_a_pin_home_assistant_does_not_allow_is_a_conflict() -> None:
    """The version the integration once required (issue 14): HA 2026.10 pins av 19.0.0."""
    constraints = "# generated\nav==19.0.0\nnumpy==2.3.2\ncertifi>=2021.5.30\n"
    assert conflicts(["av==19.0.2"], constraints) == [
        "av==19.0.2 (Home Assistant allows av==19.0.0)"
    ]
    assert conflicts(["av>=19.0.1,<20"], constraints) != []
    assert conflicts(["numpy<2.3"], constraints) != []
    assert conflicts(["certifi<2021"], constraints) != []
    # What HA allows, or does not constrain at all, is no conflict.
    assert conflicts(["av>=19.0.0,<20", "numpy==2.3.2", "certifi>2024.1"], constraints) == []
    assert conflicts(["zeroconf==1.0"], constraints) == []


def test_requirements_test_pins_what_the_harness_home_assistant_pins() -> None:
    """The tests run the versions a stock HA of the harness's release would install."""
    constraints = (Path(homeassistant.__file__).parent / "package_constraints.txt").read_text()
    pinned = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "requirements_test.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert conflicts(pinned, constraints) == []


def test_manifest_requirements_install_under_every_supported_release() -> None:
    """Every HA release from hacs.json's minimum to the newest on PyPI accepts the manifest.

    Needs PyPI (as CI has) to list the releases and, once per release, to fetch its wheel for its
    `package_constraints.txt` (kept under .tools/ha-constraints/); without PyPI it fails rather
    than pass unchecked.
    """
    minimum = load(ROOT / "hacs.json")["homeassistant"]
    releases = supported_releases(minimum)
    assert releases[0] == minimum
    assert ha_version in releases
    requirements = load(COMPONENT / "manifest.json")["requirements"]
    refused = {
        release: problems
        for release in releases
        if (problems := conflicts(requirements, release_constraints(release)))
    }
    assert refused == {}


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


def test_every_websocket_refusal_is_translated() -> None:
    """Each refusal code the websocket commands answer with has its message in both languages."""
    from custom_components.trygghetskamera.operator_api import ERROR_MESSAGES

    for language in ("en", "sv"):
        exceptions = json.loads(
            (COMPONENT / "translations" / f"{language}.json").read_text(encoding="utf-8")
        )["exceptions"]
        missing = [code for code in ERROR_MESSAGES if f"refusal_{code}" not in exceptions]
        assert missing == [], (language, missing)


def _flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(tree, str):
        return {prefix: tree}
    return {
        key: value
        for name, branch in tree.items()
        for key, value in _flatten(branch, f"{prefix}.{name}" if prefix else name).items()
    }


def test_translations_parse_as_home_assistant_checks_them() -> None:
    """Home Assistant parses each translation with `string.Formatter` and logs an ERROR at every
    load for one it cannot parse, or whose placeholders differ from the English one's."""
    english = _flatten(load(COMPONENT / "strings.json"))
    swedish = _flatten(load(COMPONENT / "translations" / "sv.json"))

    def placeholders(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}

    broken = []
    for key, text in swedish.items():
        try:
            if placeholders(text) != placeholders(english[key]):
                broken.append(key)
        except ValueError:
            broken.append(key)
    assert broken == []
