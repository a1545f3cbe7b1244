"""The demo launcher: a real Home Assistant starts, gets its demo home, and stops again."""

import json
from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).parent.parent
# A cold start here is ~25 s (the video, Home Assistant, onboarding, the config flow); the bound
# is generous because CI machines are shared, but a hang still ends the test.
START_TIMEOUT_S = 240


def run_check(config: Path) -> str:
    """Run `scripts/demo.py --check` as its own process, as a person or CI would."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--check",
            "--config",
            str(config),
            "--port",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def device_id(output: str) -> str:
    found = re.search(r"device id: ([0-9a-f]{32})\b", output)
    assert found, output
    return found.group(1)


def test_demo_check_starts_home_assistant_with_the_demo_home(tmp_path: Path) -> None:
    config = tmp_path / "config"

    first = run_check(config)
    home = device_id(first)
    assert "(added now)" in first
    assert re.search(r"sensor\.\w+ = (waiting|due)\b", first), first
    assert (config / "media" / "bedroom.mp4").stat().st_size > 10_000
    assert (config / "custom_components" / "trygghetskamera").resolve() == (
        ROOT / "custom_components" / "trygghetskamera"
    )
    credentials = json.loads((tmp_path / "credentials.json").read_text(encoding="utf-8"))
    assert set(credentials) == {"admin", "operator"}
    for account in credentials.values():
        assert f"{account['username']} / {account['password']}" in first

    # A second start reuses what the first made: the same users, the same home.
    second = run_check(config)
    assert device_id(second) == home
    assert "(added now)" not in second
    assert json.loads((tmp_path / "credentials.json").read_text(encoding="utf-8")) == credentials
