import re
from pathlib import Path

import pytest
import yaml

from patron_info_poller.config import VARIABLE_NAMES, PollerConfig, load_config
from patron_info_poller.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
SALT = "$2b$07$YyUIk8oYRQ8xbPBnY.KzD."

REQUIRED = {
    "AWS_REGION": "us-east-1",
    "SIERRA_DB_PORT": "1032",
    "SIERRA_DB_NAME": "iii",
    "SIERRA_DB_HOST": "sierra.example.org",
    "SIERRA_DB_USER": "reader",
    "SIERRA_DB_PASSWORD": "sierra-secret-pw",
    "REDSHIFT_DB_NAME": "dev",
    "REDSHIFT_TABLE": "patron_info",
    "REDSHIFT_DB_HOST": "redshift.example.org",
    "REDSHIFT_DB_USER": "reader",
    "REDSHIFT_DB_PASSWORD": "redshift-secret-pw",
    "KINESIS_STREAM_ARN": "arn:aws:kinesis:us-east-1:123456789012:stream/PatronInfo-dev",
    "BCRYPT_SALT": SALT,
    "GEOCODER_API_BASE_URL": "https://geocoding.geo.census.gov/geocoder/geographies/addressbatch",
    "GEOCODER_API_BENCHMARK": "Public_AR_Current",
    "GEOCODER_API_VINTAGE": "Current_Current",
    "PATRON_INFO_SCHEMA_URL": "https://platform.example.org/api/v0.1/current-schemas/PatronInfo",
    "KINESIS_BATCH_SIZE": "500",
    "S3_BUCKET": "bucket",
    "S3_RESOURCE": "state.json",
    "SIERRA_BATCH_SIZE": "1000",
}


def no_kms(variables, ciphertext):
    raise AssertionError("KMS must not be called")


def test_defaults_from_the_seed_readme_and_the_issue():
    config = load_config(None, REQUIRED, ROOT / "config", no_kms)
    assert config.log_level == "warning"
    assert config.redshift_db_port == 5439
    assert config.redshift_db_sslmode == "verify-full"
    assert config.max_batches is None
    assert not config.ignore_cache and not config.backfill and not config.ignore_kinesis
    assert config.starting_creation_dt.isoformat() == "2020-01-01T00:00:00-05:00"
    assert config.starting_deletion_date.isoformat() == "2020-01-01"
    assert config.active_batch_size == config.deleted_batch_size == 1000
    assert config.endpoint_url("kinesis") is None


def test_secrets_never_show_in_repr_or_str():
    config = load_config(None, REQUIRED, ROOT / "config", no_kms)
    for text in (repr(config), str(config)):
        assert SALT not in text
        assert "sierra-secret-pw" not in text and "redshift-secret-pw" not in text


def test_every_problem_is_named_in_one_message_without_values():
    broken = {
        **REQUIRED,
        "KINESIS_BATCH_SIZE": "501",
        "BCRYPT_SALT": "not-a-salt-but-a-secret",
        "LOG_LEVEL": "loud",
        "SIERRA_DB_PORT": "port",
    }
    del broken["SIERRA_DB_HOST"]
    with pytest.raises(ConfigurationError) as caught:
        load_config(None, broken, ROOT / "config", no_kms)
    message = str(caught.value)
    for name in (
        "SIERRA_DB_HOST",
        "KINESIS_BATCH_SIZE",
        "BCRYPT_SALT",
        "LOG_LEVEL",
        "SIERRA_DB_PORT",
    ):
        assert name in message
    assert "not-a-salt-but-a-secret" not in message
    assert "\n" not in message


def test_s3_location_required_unless_cache_ignored():
    without_s3 = {k: v for k, v in REQUIRED.items() if not k.startswith("S3_")}
    with pytest.raises(ConfigurationError, match="S3_BUCKET"):
        load_config(None, without_s3, ROOT / "config", no_kms)
    config = load_config(None, {**without_s3, "IGNORE_CACHE": "True"}, ROOT / "config", no_kms)
    assert config.ignore_cache


def test_environment_wins_over_the_file_and_skips_decrypting(tmp_path):
    (tmp_path / "unit.yaml").write_text(
        "PLAINTEXT_VARIABLES:\n  LOG_LEVEL: debug\n  SIERRA_BATCH_SIZE: 10\n"
        "ENCRYPTED_VARIABLES:\n  BCRYPT_SALT: bm90IHVzZWQ=\n"
    )
    environ = {**REQUIRED, "LOG_LEVEL": "info", "PATH": "/usr/bin"}
    del environ["SIERRA_BATCH_SIZE"]
    config = load_config("unit", environ, tmp_path, no_kms)
    assert config.log_level == "info"
    assert config.sierra_batch_size == 10


def test_decryption_failures_are_listed_together(tmp_path):
    (tmp_path / "unit.yaml").write_text(
        "ENCRYPTED_VARIABLES:\n  BCRYPT_SALT: '!!!'\n  SIERRA_DB_PASSWORD: bm90IHVzZWQ=\n"
    )

    def failing_kms(variables, ciphertext):
        raise RuntimeError("AccessDenied")

    environ = {k: v for k, v in REQUIRED.items() if k not in ("BCRYPT_SALT", "SIERRA_DB_PASSWORD")}
    with pytest.raises(ConfigurationError) as caught:
        load_config("unit", environ, tmp_path, failing_kms)
    assert "BCRYPT_SALT is not base64" in str(caught.value)
    assert "SIERRA_DB_PASSWORD could not be decrypted (RuntimeError)" in str(caught.value)


def test_unknown_environment_names_the_files_there():
    with pytest.raises(ConfigurationError, match="set ENVIRONMENT to one of"):
        load_config("nope", REQUIRED, ROOT / "config", no_kms)


@pytest.mark.parametrize("environment", ["devel", "qa", "production", "local"])
def test_shipped_config_files_parse(environment):
    document = yaml.safe_load((ROOT / "config" / f"{environment}.yaml").read_text())
    assert set(document) == {"PLAINTEXT_VARIABLES", "ENCRYPTED_VARIABLES"}
    names = set(document["PLAINTEXT_VARIABLES"]) | set(document["ENCRYPTED_VARIABLES"])
    assert names <= VARIABLE_NAMES


def test_readme_documents_every_configuration_variable():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", readme, re.MULTILINE))
    assert documented == VARIABLE_NAMES


def test_config_model_fields_all_have_env_aliases():
    assert all(field.alias for field in PollerConfig.model_fields.values())


def test_the_geocoder_chain_defaults_to_census_and_names_what_each_provider_needs():
    config = load_config(None, REQUIRED, ROOT / "config", no_kms)
    assert config.geocoder == ("census",)
    assert (config.geocoder_concurrency, config.geocoder_max_concurrency) == (2, 4)
    assert config.geocoder_max_reasks == 2
    chained = load_config(
        None, {**REQUIRED, "GEOCODER": " Tiger, census", "TIGER_INDEX": "s3://b/k"}, ROOT, no_kms
    )
    assert chained.geocoder == ("tiger", "census")
    offline_only = {
        name: value for name, value in REQUIRED.items() if not name.startswith("GEOCODER_API")
    }
    assert load_config(
        None, {**offline_only, "GEOCODER": "tiger", "TIGER_INDEX": "/x"}, ROOT, no_kms
    ).geocoder == ("tiger",)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"GEOCODER": "tiger"}, "GEOCODER=tiger needs TIGER_INDEX"),
        ({"GEOCODER": "google"}, "unknown: google"),
        ({"GEOCODER": "census,census"}, "names a provider twice"),
        ({"GEOCODER": ""}, None),  # empty means unset: the default chain
        ({"GEOCODER_API_BASE_URL": ""}, "GEOCODER=census needs GEOCODER_API_BASE_URL"),
        ({"GEOCODER_MAX_CONCURRENCY": "1"}, "GEOCODER_MAX_CONCURRENCY must be at least"),
    ],
)
def test_geocoder_settings_are_checked_together(variables, named):
    if named is None:
        assert load_config(None, {**REQUIRED, **variables}, ROOT, no_kms).geocoder == ("census",)
        return
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        load_config(None, {**REQUIRED, **variables}, ROOT, no_kms)
