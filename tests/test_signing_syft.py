"""The syft adapter without a registry: what reaches syft's argv and environment (a stand-in binary)."""

from __future__ import annotations

import json
import sys

import pytest

from image_release.adapters import syft
from image_release.adapters.registry_auth import Credentials

DIGEST = "sha256:" + "4" * 64
SECRET = "syft-Secret-Pa55"


@pytest.fixture
def fake_syft(tmp_path):
    record = tmp_path / "record.json"
    script = tmp_path / "syft"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
json.dump({{"argv": sys.argv, "env": {{k: v for k, v in os.environ.items() if k.startswith("SYFT_")}}}},
          open({str(record)!r}, "w"))
print(json.dumps({{"bomFormat": "CycloneDX"}}))
""")
    script.chmod(0o755)
    return script, record


def test_credentials_reach_syft_in_its_environment_never_its_argv(fake_syft):
    script, record = fake_syft
    out = syft.generate_sbom("127.0.0.1:5000", "team/app", DIGEST, "cyclonedx",
                             credentials=Credentials("alice", SECRET), binary=str(script))
    assert json.loads(out) == {"bomFormat": "CycloneDX"}
    seen = json.loads(record.read_text())
    assert seen["argv"][1:] == ["scan", f"registry:127.0.0.1:5000/team/app@{DIGEST}", "-o", "cyclonedx-json", "-q"]
    assert SECRET not in " ".join(seen["argv"])
    assert seen["env"]["SYFT_REGISTRY_AUTH_PASSWORD"] == SECRET
    assert seen["env"]["SYFT_REGISTRY_AUTH_AUTHORITY"] == "127.0.0.1:5000"
    assert seen["env"]["SYFT_REGISTRY_INSECURE_USE_HTTP"] == "true"
    assert seen["env"]["SYFT_CHECK_FOR_APP_UPDATE"] == "false"


def test_tls_registries_stay_tls_and_foreign_syft_credentials_are_dropped():
    env = syft.syft_env("ghcr.io", None, base={"SYFT_REGISTRY_AUTH_PASSWORD": "other", "PATH": "/bin"})
    assert "SYFT_REGISTRY_INSECURE_USE_HTTP" not in env and "SYFT_REGISTRY_AUTH_PASSWORD" not in env
    assert env["PATH"] == "/bin"


def test_a_failing_syft_is_an_sbom_error_with_its_last_line(tmp_path):
    script = tmp_path / "syft"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('noise\\nunable to load image\\n')\nsys.exit(1)\n")
    script.chmod(0o755)
    with pytest.raises(syft.SbomError, match="unable to load image"):
        syft.generate_sbom("127.0.0.1:5000", "team/app", DIGEST, binary=str(script))


def test_the_wheel_ships_syft():
    assert syft.syft_binary().endswith("syft")
