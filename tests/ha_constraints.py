"""Home Assistant's package constraints, and whether our requirements install under them.

Home Assistant installs a custom integration's requirements with its own
`homeassistant/package_constraints.txt` as constraints: a requirement that excludes the version
HA pins cannot be resolved, and the integration does not load. `conflicts` judges that without an
index; `release_constraints` fetches the file of any HA release from its wheel on PyPI (with pip,
as a user's machine would find it) and keeps it under `.tools/ha-constraints/`.
"""

from collections.abc import Iterable
import json
from pathlib import Path
import subprocess
import sys
import tempfile
import zipfile

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".tools" / "ha-constraints"
CONSTRAINTS_IN_WHEEL = "homeassistant/package_constraints.txt"
PIP_TIMEOUT_S = 600


def parse_constraints(text: str) -> dict[str, SpecifierSet]:
    """Map each constrained package (canonical name) to what HA allows of it."""
    allowed: dict[str, SpecifierSet] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        allowed[name] = allowed.get(name, SpecifierSet()) & requirement.specifier
    return allowed


def _candidates(*specifier_sets: SpecifierSet) -> set[Version]:
    """Versions worth trying: every bound either side names, and one just above each."""
    found: set[Version] = set()
    for specifiers in specifier_sets:
        for specifier in specifiers:
            try:
                version = Version(specifier.version.removesuffix(".*"))
            except InvalidVersion:
                continue
            found.add(version)
            # Just above an exclusive lower bound (">1.2" admits 1.2.0.1 but not 1.2.post1).
            found.add(Version(f"{version.base_version}.0.1"))
    return found


def conflicts(requirements: Iterable[str], constraints_text: str) -> list[str]:
    """Return the requirements no version of which HA's constraints allow, with HA's rule."""
    allowed = parse_constraints(constraints_text)
    problems = []
    for line in requirements:
        requirement = Requirement(line)
        ha_allows = allowed.get(canonicalize_name(requirement.name))
        if ha_allows is None:
            continue
        ours = requirement.specifier
        if not any(
            ours.contains(version, prereleases=True) and ha_allows.contains(version, True)
            for version in _candidates(ours, ha_allows)
        ):
            problems.append(f"{line} (Home Assistant allows {requirement.name}{ha_allows})")
    return problems


def _pip(*args: str) -> str:
    """Run this interpreter's pip; fail loudly (with pip's words) when it cannot reach PyPI."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"pip {' '.join(args)} failed (this check needs PyPI):\n{result.stderr[-2000:]}"
        )
    return result.stdout


def supported_releases(minimum: str) -> list[str]:
    """Every final Home Assistant release from `minimum` (hacs.json) to the newest, on PyPI."""
    listing = json.loads(_pip("index", "versions", "homeassistant", "--json"))
    releases = [Version(version) for version in listing["versions"]]
    return [str(v) for v in sorted(v for v in releases if v >= Version(minimum))]


def release_constraints(version: str) -> str:
    """Return `package_constraints.txt` of HA `version`, fetched once from its wheel."""
    cached = CACHE / f"homeassistant-{version}.txt"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as download:
        _pip(
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            download,
            f"homeassistant=={version}",
        )
        (wheel,) = Path(download).glob("homeassistant-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read(CONSTRAINTS_IN_WHEEL).decode("utf-8")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(cached)
    return text
