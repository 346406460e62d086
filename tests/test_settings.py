"""Server settings from HONED_* variables, and how `honed serve` layers its flags on them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from honed.cli import main as cli
from honed.server.settings import Settings
from honed.service.suggestions import Preference

VARIABLES = (
    "DATABASE_URL",
    "API_TOKEN",
    "CANDIDATE_WAIT_SECONDS",
    "PREFER",
    "OPTIMIZERS",
    "RATE_LIMIT",
    "RATE_BURST",
    "CORS_ORIGINS",
    "DB_POOL_SIZE",
    "METRICS_PORT",
    "FILES_DIR",
    "FILES_S3_BUCKET",
    "FILES_S3_PREFIX",
    "FILES_S3_ENDPOINT_URL",
    "FILES_S3_REGION",
    "MAX_FILE_BYTES",
    "PUBLIC_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(f"HONED_{name}", raising=False)


def test_every_field_has_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DATABASE_URL": "postgresql+psycopg://h/db",
        "API_TOKEN": "secret",
        "CANDIDATE_WAIT_SECONDS": "2.5",
        "PREFER": "latency",
        "OPTIMIZERS": "2",
        "RATE_LIMIT": "20",
        "RATE_BURST": "40",
        "CORS_ORIGINS": "https://a.example, https://b.example,",
        "DB_POOL_SIZE": "3",
        "METRICS_PORT": "9100",
        "FILES_DIR": "/srv/honed/files",
        "FILES_S3_BUCKET": "runs",
        "FILES_S3_PREFIX": "honed/",
        "FILES_S3_ENDPOINT_URL": "http://minio:9000",
        "FILES_S3_REGION": "eu-west-1",
        "MAX_FILE_BYTES": "1000",
        "PUBLIC_URL": "https://honed.example/api",
    }.items():
        monkeypatch.setenv(f"HONED_{name}", value)
    settings = Settings.from_env()
    assert settings == Settings(
        database_url="postgresql+psycopg://h/db",
        api_token="secret",
        candidate_wait_seconds=2.5,
        prefer=Preference.LATENCY,
        optimizers=2,
        rate_limit=20.0,
        rate_burst=40.0,
        cors_origins=("https://a.example", "https://b.example"),
        db_pool_size=3,
        metrics_port=9100,
        files_dir="/srv/honed/files",
        files_s3_bucket="runs",
        files_s3_prefix="honed/",
        files_s3_endpoint_url="http://minio:9000",
        files_s3_region="eu-west-1",
        max_file_bytes=1000,
        public_url="https://honed.example/api",
    )
    assert set(Settings.model_fields) == {name.lower() for name in VARIABLES}
    assert pickle.loads(pickle.dumps(settings)) == settings  # as uvicorn's workers get it


def test_unset_and_empty_variables_give_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_TOKEN", "RATE_BURST", "CORS_ORIGINS", "OPTIMIZERS", "RATE_LIMIT"):
        monkeypatch.setenv(f"HONED_{name}", "")
    settings = Settings.from_env()
    assert (settings.api_token, settings.rate_burst, settings.cors_origins) == (None, None, ())
    assert (settings.optimizers, settings.rate_limit) == (0, 0.0)
    assert settings.database_url == "sqlite:///honed.db"
    assert settings.serving.prefer is Preference.QUALITY
    assert settings.files_directory == "honed-files"  # beside ./honed.db


@pytest.mark.parametrize(
    ("database_url", "directory"),
    [
        ("sqlite:////srv/honed/runs.db", "/srv/honed/runs-files"),
        ("sqlite:///honed.db", "honed-files"),
        ("sqlite://", "honed-files"),
        ("postgresql://u:p@db/honed", "honed-files"),
    ],
)
def test_files_go_beside_a_sqlite_database(database_url: str, directory: str) -> None:
    assert Settings(database_url=database_url).files_directory == directory
    assert Settings(database_url=database_url, files_dir="/x").files_directory == "/x"


def test_arguments_win_over_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_RATE_LIMIT", "5")
    monkeypatch.setenv("HONED_DB_POOL_SIZE", "4")
    settings = Settings(rate_limit=7.0)
    assert (settings.rate_limit, settings.db_pool_size) == (7.0, 4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PREFER", "fast", "HONED_PREFER='fast': should be 'quality' or 'latency'"),
        ("CANDIDATE_WAIT_SECONDS", "soon", "HONED_CANDIDATE_WAIT_SECONDS='soon': should be a"),
        ("DB_POOL_SIZE", "0", "HONED_DB_POOL_SIZE='0': should be greater than or equal to 1"),
        ("RATE_LIMIT", "-1", "HONED_RATE_LIMIT='-1': should be greater than or equal to 0"),
        ("RATE_BURST", "inf", "HONED_RATE_BURST='inf': should be a finite number"),
        (
            "METRICS_PORT",
            "70000",
            "HONED_METRICS_PORT='70000': should be less than or equal to 65535",
        ),
    ],
)
def test_a_bad_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"HONED_{name}", value)
    with pytest.raises(ValueError, match=message):
        Settings.from_env()


def test_a_bad_argument_is_named_as_the_field() -> None:
    with pytest.raises(ValueError, match=r"Settings.db_pool_size=0: should be greater"):
        Settings(db_pool_size=0)


def serve_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str
) -> tuple[int, str, list[Settings]]:
    """Run `honed serve` up to the point where uvicorn would start; its settings."""
    served: list[Settings] = []
    monkeypatch.setattr(cli, "_serve_api", lambda settings, *rest: served.append(settings))
    monkeypatch.setattr(cli, "_listen", lambda host, port: None)  # no port taken here
    database = ["--database-url", f"sqlite:///{tmp_path / 'serve.db'}"]
    result = CliRunner().invoke(cli.main, ["serve", *database, "--optimizers", "0", *args])
    return result.exit_code, result.output, served


def test_serve_flags_win_and_variables_fill_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HONED_API_TOKEN", "env-token")
    monkeypatch.setenv("HONED_RATE_LIMIT", "5")
    monkeypatch.setenv("HONED_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("HONED_PREFER", "latency")
    monkeypatch.setenv("HONED_OPTIMIZERS", "3")  # --optimizers is the count serve starts
    before = dict(os.environ)
    code, output, served = serve_settings(
        monkeypatch, tmp_path, "--rate-limit", "7", "--candidate-wait", "2"
    )
    assert code == 0, output
    (settings,) = served
    assert settings.rate_limit == 7.0
    assert settings.candidate_wait_seconds == 2.0
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.prefer is Preference.LATENCY
    assert (settings.api_token, settings.optimizers) == ("env-token", 0)
    assert settings.database_url == f"sqlite:///{tmp_path / 'serve.db'}"
    assert "the HONED_API_TOKEN value is a valid token" in output
    assert dict(os.environ) == before  # the settings travel as an object


def test_serve_cors_flags_replace_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HONED_CORS_ORIGINS", "https://a.example")
    code, output, served = serve_settings(
        monkeypatch, tmp_path, "--cors-origin", "https://c.example"
    )
    assert code == 0, output
    assert served[0].cors_origins == ("https://c.example",)
    code, output, served = serve_settings(monkeypatch, tmp_path)
    assert served[0].cors_origins == ("https://a.example",)


def test_serve_names_a_bad_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HONED_PREFER", "fast")
    code, output, served = serve_settings(monkeypatch, tmp_path)
    assert code == 2
    assert "HONED_PREFER='fast': should be 'quality' or 'latency'" in output
    assert served == []
