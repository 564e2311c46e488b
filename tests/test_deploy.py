"""deploy/trellis.service: systemd accepts it as written, and it keeps the hardening."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "trellis.service"
INSTALL_PREFIX = "/opt/trellis"  # where the README installs the code


def service_section() -> dict[str, list[str]]:
    """[Service] keys to their values (a key may repeat, as systemd allows)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # verify checks that ExecStart exists: point the install prefix at this checkout,
    # whose .venv is what `make setup` makes on a server. Nothing else is changed.
    unit = tmp_path / "trellis.service"
    unit.write_text(UNIT.read_text().replace(INSTALL_PREFIX, str(ROOT)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # Unknown or misspelt keys are only warnings, with exit code 0: none may appear.
    assert done.stderr.strip() == "" and done.stdout.strip() == ""


def test_the_unit_is_hardened_and_keeps_the_key_apart() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    s = service_section()
    assert s["User"] == ["trellis"] and s["Group"] == ["trellis"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "Restart": "on-failure",
        "UMask": "0077",
    }.items():
        assert s[key] == [value], key
    assert s["ReadWritePaths"] == ["/var/lib/trellis"]  # only the data folder
    assert s["StateDirectory"] == ["trellis"] and s["StateDirectoryMode"] == ["0700"]
    assert s["ExecStart"] == [f"{INSTALL_PREFIX}/.venv/bin/python -m bot"]
    # The key comes as a credential, not in the environment file nor the data folder.
    assert s["LoadCredential"] == ["data-key:/etc/trellis/data.key"]
    environment = dict(v.split("=", 1) for v in s["Environment"])
    assert environment["KEY_FILE"] == "%d/data-key"
    assert environment["DATABASE_PATH"].startswith("/var/lib/trellis/")
    assert environment["BACKUP_DIR"].startswith("/var/lib/trellis/")
    assert "DATA_ENCRYPTION_KEY" not in environment
