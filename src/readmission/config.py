"""Every setting of the platform, read from the environment (or a ``.env`` file).

Defaults are safe for a laptop: SQLite files, a local MLflow store and folders
under ``LOCAL_DIR``. Admin tokens have no default: in ``local`` mode one is
generated once and kept in ``LOCAL_DIR/secrets`` (mode 0600, written atomically)
so that every local process agrees on it; in any other mode a missing token is an
error. Every value is stripped (an empty one is missing). In ``production`` a
secret that is a placeholder (``change-me``...) or an admin token shorter than
``MIN_TOKEN_LENGTH`` characters is refused when the settings are read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from readmission.schema import Target

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_CSV = REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"
"""The UCI data set the data API serves (the default of ``DATA_CSV_PATH``)."""
"""The checkout (meaningful for a source install; containers set paths explicitly)."""


MIN_TOKEN_LENGTH = 32
"""Shortest admin token accepted in production (``secrets.token_urlsafe(32)`` gives 43 characters)."""

PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder")
PLACEHOLDER_VALUES = frozenset({"secret", "password", "admin", "token", "example", "test", "xxx", "todo"})
"""A secret containing one of the words, or equal to one of the values (any case), is a placeholder."""

TOKENS = ("api_admin_token", "data_api_admin_token")
SECRETS = (*TOKENS, "mlflow_tracking_password")
URLS_WITH_PASSWORDS = ("raw_database_url", "clean_database_url", "mlflow_tracking_uri")


class MissingSecretError(RuntimeError):
    """A secret has no value and the platform is not running in local mode."""


class WeakSecretError(RuntimeError):
    """A production secret is a placeholder or too short (the message names it, never its value)."""


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDER_VALUES or any(word in lowered for word in PLACEHOLDER_WORDS)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True)

    environment: Literal["local", "production"] = "local"
    local_dir: Path = Field(default=REPO_ROOT / "var", description="Local state: SQLite files, MLflow store, datasets")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    # The batch data API (ec2_api/)
    data_csv_path: Path = DATA_CSV
    data_api_host: str = "127.0.0.1"
    data_api_port: int = 5001
    data_api_state_dir: Path | None = None
    data_api_admin_token: SecretStr | None = None
    batch_size: int = Field(default=15_000, gt=0)
    update_interval_seconds: float = Field(default=300.0, gt=0)
    shuffle_seed: int = 42
    data_api_workers: int = Field(default=2, gt=0, description="gunicorn worker processes")

    # Ingestion and preparation
    data_api_url: str = "http://127.0.0.1:5001"
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=3, ge=0)
    raw_database_url: str | None = None
    clean_database_url: str | None = None
    database_ssl_ca: str | None = Field(
        default=None, description="CA bundle (PEM) for TLS to MySQL: server certificate and host name verified"
    )
    readmission_target: Target = "any"
    top_specialties: int = Field(default=10, ge=1)
    dataset_uri: str | None = None
    s3_endpoint_url: str | None = None

    # Training and the registry
    mlflow_tracking_uri: str | None = None
    mlflow_tracking_username: str | None = None
    mlflow_tracking_password: SecretStr | None = None
    mlflow_s3_endpoint_url: str | None = None
    mlflow_experiment_name: str = "diabetes-readmission"
    model_name: str = Field(default="diabetes-readmission", description="registered model of the `any` outcome")
    model_name_30d: str = Field(
        default="diabetes-readmission-30d", description="registered model of the `within_30_days` outcome"
    )
    promotion_min_delta: float = 0.0
    train_max_configurations: int = Field(
        default=4, ge=1, description="candidates per family: its grid in order (best-first), then hist_gb's seed bag"
    )
    train_candidates: str = "baseline_gb,logistic,hist_gb"
    random_seed: int = 42

    # The inference API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_url: str = "http://127.0.0.1:8000"
    api_admin_token: SecretStr | None = None
    model_alias: str = "champion"
    model_poll_seconds: float = Field(default=30.0, gt=0)
    model_cache_dir: Path | None = None
    max_batch_records: int = Field(default=10_000, gt=0)
    max_request_bytes: int = Field(default=64 * 1024, gt=0, description="Largest body of POST /predict")
    max_batch_request_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Largest body of POST /predict/batch (10,000 records take ~13 MB)"
    )
    max_concurrent_batches: int = Field(default=2, gt=0, description="Batches read and scored at once")
    batch_slot_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="How long a batch waits for one of the MAX_CONCURRENT_BATCHES slots before a 503 with Retry-After",
    )

    # AWS (the scheduled EC2 data source)
    aws_region: str = "us-east-1"
    ec2_instance_ids: str = ""
    ec2_schedule_tag: str = "Schedule=mlops-data-api"
    aws_resource_prefix: str = "readmission"
    ec2_start_schedule: str = "cron(55 8 * * ? *)"
    ec2_stop_schedule: str = "cron(55 23 * * ? *)"
    ec2_schedule_timezone: str = "America/Lima"
    lambda_runtime: str = "python3.12"

    # The Airflow pipeline (dags/orquestador.py)
    pipeline_schedule: str = Field(default="*/10 * * * *", description="cron, preset (@hourly) or 'none'")
    pipeline_batches_per_run: int = Field(default=1, ge=1, description="default of the DAG param `batches`")
    pipeline_retries: int = Field(default=2, ge=0, description="retries of the network tasks")
    pipeline_retry_delay_seconds: float = Field(default=30.0, gt=0, description="first retry delay (then backoff)")
    staging_uri: str | None = None

    # Monitoring: drift, the retraining decision, the Pushgateway
    drift_psi_threshold: float = Field(default=0.2, gt=0, description="PSI at which a feature counts as drifted")
    retrain_min_new_rows: int = Field(
        default=15_000, ge=1, description="New rows since training that justify retraining"
    )
    pushgateway_url: str | None = Field(default=None, description="Prometheus Pushgateway; empty: pushes are off")
    push_timeout_seconds: float = Field(default=5.0, gt=0)
    pipeline_stale_seconds: float = Field(default=1800.0, gt=0, description="Alert when no run succeeded for this long")
    api_drift_window: int = Field(default=5000, ge=0, description="Scored records kept for live drift; 0: off")
    api_drift_interval_seconds: float = Field(default=30.0, gt=0, description="Seconds between live drift updates")

    # The clinician UI (streamlit/)
    ui_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one UI call to the API")
    ui_batch_chunk_size: int = Field(default=250, gt=0, description="Records per /predict/batch call of the UI")

    # Local ports used by `make run`
    mlflow_port: int = 5000
    pushgateway_port: int = 9091
    streamlit_port: int = 8501
    airflow_port: int = 8080
    airflow_ui: bool = Field(default=False, description="`make run` also starts `airflow standalone`")

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        """Strip every text value (a token read from a file or a secret store keeps no newline)."""
        return value.strip() if isinstance(value, str) else value

    @field_validator(*SECRETS, "mlflow_tracking_username", mode="after")
    @classmethod
    def _empty_is_missing(cls, value: SecretStr | str | None) -> SecretStr | str | None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return value if text else None

    @model_validator(mode="after")
    def _refuse_weak_production_secrets(self) -> Settings:
        if self.is_local:
            return self
        problems = []
        for name in SECRETS:
            value: SecretStr | None = getattr(self, name)
            if value is None:
                continue
            text = value.get_secret_value()
            if is_placeholder(text):
                problems.append(f"{name.upper()} is a placeholder: set a real secret")
            elif name in TOKENS and len(text) < MIN_TOKEN_LENGTH:
                problems.append(f"{name.upper()} has {len(text)} characters: use at least {MIN_TOKEN_LENGTH}")
        for name in URLS_WITH_PASSWORDS:
            url = getattr(self, name)
            password = urlsplit(url).password if url and "://" in url else None
            if password and is_placeholder(unquote(password)):
                problems.append(f"{name.upper()} has a placeholder password: set a real one")
        if problems:
            raise WeakSecretError(f"ENVIRONMENT={self.environment} refuses weak secrets: " + "; ".join(problems))
        return self

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    def local_path(self, *parts: str) -> Path:
        path = self.local_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def resolved_data_api_state_dir(self) -> Path:
        return self.data_api_state_dir or self.local_dir / "data_api"

    @property
    def resolved_raw_database_url(self) -> str:
        return self.raw_database_url or f"sqlite:///{self.local_path('raw_data_db.sqlite')}"

    @property
    def resolved_clean_database_url(self) -> str:
        return self.clean_database_url or f"sqlite:///{self.local_path('clean_data_db.sqlite')}"

    @property
    def resolved_dataset_uri(self) -> str:
        return self.dataset_uri or str(self.local_dir / "datasets")

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.local_path('mlflow', 'mlflow.db')}"

    @property
    def resolved_staging_uri(self) -> str:
        return self.staging_uri or str(self.local_dir / "staging")

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.local_dir / "model_cache"

    def model_name_for(self, target: Literal["any", "within_30_days"]) -> str:
        """The registered model of ``target`` (each outcome has its own model and champion)."""
        return self.model_name_30d if target == "within_30_days" else self.model_name

    def for_target(self, target: Literal["any", "within_30_days"]) -> Settings:
        """These settings for one outcome: ``model_name`` and ``readmission_target`` set to ``target``'s."""
        return self.model_copy(update={"model_name": self.model_name_for(target), "readmission_target": target})

    @property
    def candidate_families(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.train_candidates.split(",") if part.strip())

    @property
    def instance_ids(self) -> list[str]:
        return [part.strip() for part in self.ec2_instance_ids.split(",") if part.strip()]

    def secret(self, name: Literal["data_api_admin_token", "api_admin_token"]) -> str:
        """The value of a token; generated and kept on disk in local mode (an empty file is missing)."""
        value: SecretStr | None = getattr(self, name)
        if value is not None and value.get_secret_value().strip():
            return value.get_secret_value().strip()
        if not self.is_local:
            raise MissingSecretError(f"{name.upper()} must be set when ENVIRONMENT={self.environment}")
        path = self.local_path("secrets", name)
        path.parent.chmod(0o700)
        token = path.read_text().strip() if path.exists() else None
        if not token:
            # Replace only a file seen empty: a missing one may be written meanwhile by a concurrent first run.
            _write_private(path, secrets.token_urlsafe(32), replace=token == "")
            token = path.read_text().strip()  # another process may have written it first
        return token

    def mlflow_environment(self) -> dict[str, str]:
        """The variables MLflow's client reads itself (artifact endpoint, basic-auth credentials)."""
        values = {
            "MLFLOW_S3_ENDPOINT_URL": self.mlflow_s3_endpoint_url,
            "MLFLOW_TRACKING_USERNAME": self.mlflow_tracking_username,
            "MLFLOW_TRACKING_PASSWORD": (
                self.mlflow_tracking_password.get_secret_value() if self.mlflow_tracking_password else None
            ),
        }
        return {key: value for key, value in values.items() if value}


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` (mode 0600) atomically: readers see no file or the whole of it.

    Without ``replace`` an existing file wins (``os.link`` fails), so concurrent first
    runs agree on one token.
    """
    handle, name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        if replace:
            os.replace(name, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process wrote it first: keep theirs
                os.link(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def settings_problems(error: ValidationError) -> str:
    """One sentence per bad setting of a ``Settings`` validation error, naming its variable and value."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper() or "settings"
        value = item.get("input")
        secret = item["loc"] and item["loc"][0] in (*SECRETS, *URLS_WITH_PASSWORDS)  # never echo a secret
        shown = f" (got {value!r})" if isinstance(value, (str, int, float)) and not secret else ""
        problems.append(f"{name}: {item['msg']}{shown}")
    return "; ".join(problems)


@cache
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
