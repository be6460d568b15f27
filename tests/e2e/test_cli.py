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

from embedded_stack.postgres import free_port
from embedded_stack.synthetic_sierra import SyntheticSierra
from tests.e2e.conftest import RELIABILITY

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
    """Runs in `config_dir` as its working directory, so files it leaves can be found."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(environment)
    return subprocess.run(
        # The seed's documented entry point: `ENVIRONMENT=<env> python3 main.py`.
        [sys.executable, str(ROOT / "main.py"), "--config-dir", str(config_dir)],
        cwd=config_dir,
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


def assert_no_leaks(text: str, secrets: set[str], folder: Path | None = None) -> None:
    """No secret in the output, nor in any file the run left in its working directory."""
    texts = [text]
    if folder is not None:
        texts += [
            path.read_bytes().decode("utf-8", "replace")
            for path in folder.rglob("*")
            if path.is_file() and path.suffix != ".yaml"
        ]
    leaked = sorted(secret for secret in secrets if any(secret in t for t in texts))
    RELIABILITY.leaks_found += len(leaked)
    assert leaked == [], f"{len(leaked)} plaintext values found in the output or files"


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
    assert_no_leaks(result.stdout + result.stderr, secrets, tmp_path)
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
    assert_no_leaks(
        result.stdout + result.stderr, plaintext_patron_data(sierra) | {stack.salt}, tmp_path
    )
    s3 = stack._clients["s3"]
    assert s3.list_objects_v2(Bucket="patron-info-poller-state").get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("failure", "exit_code"),
    [
        ({"AWS_ENDPOINT_URL_KINESIS": "closed", "KINESIS_MAX_ATTEMPTS": "2"}, 4),
        ({"SIERRA_DB_PASSWORD": "wrong-password", "SIERRA_DB_PORT": "same"}, 4),
        ({"PATRON_INFO_SCHEMA_URL": "closed"}, 1),
        ({"IGNORE_CACHE": "True", "STARTING_CREATION_DT": "2020-13-45 00:00:00-05"}, 2),
    ],
    ids=["kinesis-gone", "sierra-refuses", "schema-gone", "bad-start"],
)
def test_failing_debug_runs_leak_nothing(seeded, sierra, stack, tmp_path, failure, exit_code):
    closed = f"http://127.0.0.1:{free_port()}"
    overrides = {
        name: closed if value == "closed" else value
        for name, value in failure.items()
        if value != "same"
    }
    result = run_cli(stack.poller_environment(LOG_LEVEL="debug", **overrides), tmp_path)
    assert result.returncode == exit_code, result.stderr[-1500:]
    assert result.stderr.strip().splitlines()[-1].startswith("patron-info-poller: ")
    secrets = plaintext_patron_data(sierra) | {stack.salt, stack.sierra_password, "wrong-password"}
    assert_no_leaks(result.stdout + result.stderr, secrets, tmp_path)
