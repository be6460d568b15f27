"""The poller as operators run it: `python -m patron_info_poller` in its own process,
configured by a YAML file with KMS-encrypted secrets and the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from embedded_stack.synthetic_sierra import SyntheticSierra

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAMES = (
    "SIERRA_DB_HOST",
    "SIERRA_DB_USER",
    "SIERRA_DB_PASSWORD",
    "REDSHIFT_DB_HOST",
    "REDSHIFT_DB_USER",
    "REDSHIFT_DB_PASSWORD",
    "KINESIS_STREAM_ARN",
    "BCRYPT_SALT",
)


def run_cli(environment: dict[str, str], config_dir: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "patron_info_poller", "--config-dir", str(config_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_encrypted_config(stack, config_dir: Path, name: str, **overrides: str) -> None:
    """Secrets as KMS ciphertexts in the file, as the deployed configs hold them."""
    variables = stack.poller_environment(**overrides)
    plaintext = {k: v for k, v in variables.items() if k not in SECRET_NAMES}
    encrypted = {k: stack.kms_encrypt(v) for k, v in variables.items() if k in SECRET_NAMES}
    document = {"PLAINTEXT_VARIABLES": plaintext, "ENCRYPTED_VARIABLES": encrypted}
    (config_dir / f"{name}.yaml").write_text(yaml.safe_dump(document))


def plaintext_patron_data(sierra) -> set[str]:
    """Every identifier and address part in Sierra that could leak (long enough to find)."""
    values: set[str] = set()
    for row in sierra.execute(
        "SELECT rm.id::text, rm.record_num::text, pv.barcode FROM sierra_view.record_metadata rm"
        " LEFT JOIN sierra_view.patron_view pv ON pv.id = rm.id"
    ):
        values.update(v for v in row if v)
    for row in sierra.execute(
        "SELECT addr1, city, postal_code FROM sierra_view.patron_record_address"
    ):
        values.update(v.strip() for v in row if v and len(v.strip()) >= 8)
    return values


def assert_no_leaks(text: str, secrets: set[str]) -> None:
    leaked = sorted(secret for secret in secrets if secret in text)
    assert leaked == [], f"{len(leaked)} plaintext values found in the output"


@pytest.fixture
def seeded(poller, sierra):
    now = datetime.now(UTC)
    SyntheticSierra(seed=7).create_patrons(
        sierra, 150, start=now - timedelta(days=10), end=now - timedelta(days=1)
    )
    return poller


def test_debug_run_with_kms_config_prints_no_plaintext(seeded, sierra, stack, tmp_path):
    write_encrypted_config(stack, tmp_path, "kmstest", LOG_LEVEL="debug")

    result = run_cli({"ENVIRONMENT": "kmstest"}, tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "PatronInfoPoller run" in result.stdout
    assert '"level": "DEBUG"' in result.stderr or '"level": "INFO"' in result.stderr
    secrets = plaintext_patron_data(sierra) | {
        stack.salt,
        stack.sierra_password,
        stack.warehouse_password,
    }
    assert_no_leaks(result.stdout + result.stderr, secrets)
    assert len(stack.new_kinesis_records()) == 150


def test_invalid_configuration_exits_2_naming_every_problem(stack, tmp_path):
    environment = stack.poller_environment(
        BCRYPT_SALT="$2b$07$short-and-secret", KINESIS_BATCH_SIZE="900"
    )
    del environment["SIERRA_DB_HOST"]
    result = run_cli(environment, tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line
    for name in ("BCRYPT_SALT", "KINESIS_BATCH_SIZE", "SIERRA_DB_HOST"):
        assert name in line
    assert "short-and-secret" not in line


def test_geocoder_down_fails_with_exit_4_and_keeps_the_state(seeded, sierra, stack, tmp_path):
    stack.geocoder_app.faults.fail_fraction = 1.0
    environment = stack.poller_environment(LOG_LEVEL="debug", GEOCODER_MAX_ATTEMPTS="2")

    result = run_cli(environment, tmp_path)

    assert result.returncode == 4
    assert "GeocoderUnavailableError" in result.stderr
    assert stack.new_kinesis_records() == []
    assert_no_leaks(result.stdout + result.stderr, plaintext_patron_data(sierra) | {stack.salt})
    s3 = stack._clients["s3"]
    assert s3.list_objects_v2(Bucket="patron-info-poller-state").get("KeyCount", 0) == 0
