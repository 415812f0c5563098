"""Settings: embedded defaults, validation with one line per problem naming the variable."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, settings_from_env
from app.streaming.offload import redirect_origins

GOOD_SECRET = "s" * 40


def test_embedded_defaults() -> None:
    settings = settings_from_env({})
    assert settings.embedded
    assert settings.is_sqlite
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///var/huddle.db"
    assert settings.media_dir == Path("var/media")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.algorithm == "HS256"


def test_seed_variable_names_are_read() -> None:
    settings = settings_from_env(
        {
            "DATABASE_URL": "postgresql://user:pw@db/chatapp",
            "SECRET_KEY": GOOD_SECRET,
            "ALGORITHM": "hs512",
            "ACCESS_TOKEN_EXPIRE_MINUTES": "30",
            "MONGODB_URL": "mongodb://mongo:27017",
            "DATABASE_NAME": "chat",
            "REDIS_URL": "redis://redis:6379/0",
            "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "AZURE_CONTAINER_NAME": "clips",
            "WORKERS": "4",
            "PORT": "8123",
        }
    )
    assert settings.sqlalchemy_url == "postgresql+asyncpg://user:pw@db/chatapp"
    assert settings.algorithm == "HS512"
    assert settings.access_token_expire_minutes == 30
    assert (settings.mongodb_url, settings.database_name) == ("mongodb://mongo:27017", "chat")
    assert settings.azure_container_name == "clips"
    assert (settings.workers, settings.port) == (4, 8123)
    assert not settings.embedded


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        settings_from_env(env)
    return error.value.problems


def test_workers_without_redis_refused() -> None:
    assert _problems({"WORKERS": "2"}) == [
        "REDIS_URL: required when WORKERS=2; workers share real-time state through Redis"
    ]


def test_redis_cluster_takes_any_node_as_its_entry_point() -> None:
    settings = settings_from_env({"REDIS_URL": "redis://node-3:7000", "REDIS_CLUSTER": "1", "WORKERS": "2"})
    assert (settings.redis_url, settings.redis_cluster) == ("redis://node-3:7000", True)
    assert not settings_from_env({"REDIS_URL": "redis://redis:6379/0"}).redis_cluster
    assert _problems({"REDIS_CLUSTER": "1"}) == [
        "REDIS_CLUSTER: needs REDIS_URL (any node of the cluster, e.g. redis://host:7000)"
    ]
    assert _problems({"REDIS_CLUSTER": "yes", "REDIS_URL": "unix:///run/redis.sock"}) == [
        "REDIS_CLUSTER: a cluster is reached over TCP (redis:// or rediss://), not a unix socket"
    ]


def test_production_without_secret_refused() -> None:
    assert _problems({"ENVIRONMENT": "production"}) == ["SECRET_KEY: required when ENVIRONMENT=production"]


def test_every_problem_is_listed_once() -> None:
    problems = _problems(
        {
            "PORT": "eighty",
            "WORKERS": "0",
            "ALGORITHM": "none",
            "SECRET_KEY": "short",
            "DATABASE_URL": "mysql://x",
        }
    )
    assert [p.split(":")[0] for p in problems] == [
        "DATABASE_URL",
        "SECRET_KEY",
        "WORKERS",
        "ALGORITHM",
        "PORT",
    ]


def test_embedded_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path)}
    first = load_settings(env).secret_key
    assert len(first) >= 32
    assert load_settings(env).secret_key == first  # restarts and workers agree
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert load_settings(env | {"SECRET_KEY": GOOD_SECRET}).secret_key == GOOD_SECRET


def test_cli_refuses_to_start_with_a_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "SECRET_KEY"}}
    result = subprocess.run(
        [sys.executable, "-m", "app", "run"],
        env=env | {"WORKERS": "3", "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "huddle: configuration error: "
        "REDIS_URL: required when WORKERS=3; workers share real-time state through Redis"
    )


def test_media_limits() -> None:
    defaults = settings_from_env({})
    assert defaults.max_upload_bytes == 2 * 1024**3
    assert (
        defaults.upload_chunk_min_bytes,
        defaults.upload_chunk_bytes,
        defaults.upload_chunk_max_bytes,
    ) == (
        256 * 1024,
        8 * 1024**2,
        16 * 1024**2,
    )
    settings = settings_from_env(
        {
            "MAX_UPLOAD_BYTES": "1048576",
            "UPLOAD_CHUNK_BYTES": "65536",
            "UPLOAD_CHUNK_MIN_BYTES": "1024",
            "UPLOAD_SESSION_TTL": "3600",
            "UPLOAD_SWEEP_INTERVAL": "30",
            "STREAM_URL_TTL": "600",
        }
    )
    assert settings.max_upload_bytes == 1048576
    assert (settings.upload_chunk_bytes, settings.upload_chunk_min_bytes) == (65536, 1024)
    assert (settings.upload_session_ttl_seconds, settings.upload_sweep_interval_seconds) == (3600, 30)
    assert settings.stream_url_ttl_seconds == 600


def test_media_limits_must_fit_together() -> None:
    problems = _problems({"UPLOAD_CHUNK_BYTES": "1024"})  # below the default minimum chunk
    assert problems == [
        "UPLOAD_CHUNK_BYTES: must lie between UPLOAD_CHUNK_MIN_BYTES and UPLOAD_CHUNK_MAX_BYTES"
    ]
    problems = _problems({"MAX_UPLOAD_BYTES": str(2 * 1024**4), "UPLOAD_CHUNK_MAX_BYTES": str(1024**2)})
    assert [p.split(":")[0] for p in problems] == ["UPLOAD_CHUNK_BYTES", "MAX_UPLOAD_BYTES"]
    assert _problems({"MAX_UPLOAD_BYTES": "0"}) == [
        "MAX_UPLOAD_BYTES: must be between 1 and 4398046511104, got 0"
    ]


KUBERNETES_EXAMPLE_SECRET = "change-me-to-48-random-url-safe-characters-000000"  # deploy/kubernetes


@pytest.mark.parametrize(
    "secret",
    [
        KUBERNETES_EXAMPLE_SECRET,
        "changeme-changeme-changeme-changeme",
        "your-secret-key-goes-here-please-0123",
        "s" * 40,  # long enough, but one character
        "abcd" * 10,  # a short pattern repeated
        "0123456789abcdef0123456789abcdef",
    ],
)
def test_production_refuses_placeholder_and_low_entropy_secrets(secret: str) -> None:
    """Security review (issue 22), item 8b: the Kubernetes example passed the length check."""
    problems = _problems({"ENVIRONMENT": "production", "SECRET_KEY": secret})
    assert len(problems) == 1
    assert problems[0].startswith("SECRET_KEY: ")
    assert "token_urlsafe" in problems[0]  # the line says how to make a good one


@pytest.mark.parametrize("nbytes", [16, 32, 48])
def test_production_takes_generated_secrets(nbytes: int) -> None:
    for make in (secrets.token_urlsafe, secrets.token_hex):
        for _ in range(200):
            key = make(nbytes)
            if len(key) >= 32:
                settings = settings_from_env({"ENVIRONMENT": "production", "SECRET_KEY": key})
                assert settings.secret_key == key


def test_realtime_transport_is_the_socket_unless_sse_is_chosen() -> None:
    assert settings_from_env({}).realtime_transport == "ws"
    assert settings_from_env({"REALTIME_TRANSPORT": "SSE"}).realtime_transport == "sse"
    assert _problems({"REALTIME_TRANSPORT": "long-polling"}) == [
        "REALTIME_TRANSPORT: must be one of ws, sse, got 'long-polling'"
    ]


def test_identity_providers_are_read() -> None:
    settings = settings_from_env(
        {
            "OIDC_PROVIDERS": "corp, Google",
            "OIDC_CORP_ISSUER": "https://sso.example.com/realms/huddle/",
            "OIDC_CORP_CLIENT_ID": "huddle",
            "OIDC_CORP_CLIENT_SECRET": "s3",
            "OIDC_CORP_SCOPES": "openid email",
            "OIDC_CORP_NAME": "Example SSO",
            "OIDC_GOOGLE_ISSUER": "https://accounts.google.com",
            "OIDC_GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com",
            "PUBLIC_URL": "https://chat.example.com/",
            "ALLOW_PASSWORD_SIGNUP": "false",
        }
    )
    corp, google = settings.oidc_providers
    assert (corp.key, corp.issuer, corp.client_id, corp.client_secret) == (
        "corp",
        "https://sso.example.com/realms/huddle",
        "huddle",
        "s3",
    )
    assert (corp.scopes, corp.name) == (("openid", "email"), "Example SSO")
    assert (google.key, google.client_secret, google.name) == ("google", None, "Google")
    assert google.scopes == ("openid", "email", "profile")
    assert settings.public_url == "https://chat.example.com"
    assert settings.allow_password_signup is False
    assert settings_from_env({}).oidc_providers == ()
    assert settings_from_env({}).allow_password_signup is True


def test_identity_provider_problems_name_the_variable() -> None:
    problems = _problems(
        {
            "OIDC_PROVIDERS": "corp,bad-key,plain",
            "OIDC_CORP_ISSUER": "http://sso.example.com",  # plain http off the machine
            "OIDC_CORP_SCOPES": "email profile",
            "OIDC_PLAIN_ISSUER": "http://127.0.0.1:9000",  # loopback http: a test provider
            "OIDC_PLAIN_CLIENT_ID": "x",
            "PUBLIC_URL": "chat.example.com",
        }
    )
    assert [p.split(":")[0] for p in problems] == [
        "OIDC_CORP_ISSUER",
        "OIDC_CORP_CLIENT_ID",
        "OIDC_CORP_SCOPES",
        "OIDC_PROVIDERS",
        "PUBLIC_URL",
    ]


def test_stream_offload_is_off_unless_chosen() -> None:
    assert settings_from_env({}).stream_offload == "off"
    nginx = settings_from_env({"STREAM_OFFLOAD": "nginx", "STREAM_OFFLOAD_PREFIX": "/_media/"})
    assert (nginx.stream_offload, nginx.stream_offload_prefix) == ("nginx", "/_media/")
    key = "AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=https://a.blob.core.windows.net/"
    azure = settings_from_env(
        {"STREAM_OFFLOAD": "Azure-Redirect", "AZURE_STORAGE_CONNECTION_STRING": key, "STREAM_SAS_TTL": "120"}
    )
    assert (azure.stream_offload, azure.stream_sas_ttl_seconds) == ("azure-redirect", 120)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"STREAM_OFFLOAD": "sendfile"}, "STREAM_OFFLOAD: must be one of off, nginx, azure-redirect"),
        (
            {"STREAM_OFFLOAD": "nginx", "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=b"},
            "STREAM_OFFLOAD: nginx serves files from MEDIA_DIR",
        ),
        (
            {"STREAM_OFFLOAD": "azure-redirect"},
            "STREAM_OFFLOAD: azure-redirect needs AZURE_STORAGE_CONNECTION",
        ),
        (
            {
                "STREAM_OFFLOAD": "azure-redirect",
                "AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=https://a.blob.core.windows.net/;"
                "SharedAccessSignature=sv=2024&sig=x",
            },
            "STREAM_OFFLOAD: azure-redirect signs SAS URLs with the account key",
        ),
        ({"STREAM_OFFLOAD_PREFIX": "_protected"}, "STREAM_OFFLOAD_PREFIX: an absolute path"),
        ({"STREAM_OFFLOAD_PREFIX": "/a/../b/"}, "STREAM_OFFLOAD_PREFIX: an absolute path"),
        ({"STREAM_SAS_TTL": "5"}, "STREAM_SAS_TTL: must be between 30 and 3600"),
    ],
)
def test_stream_offload_problems_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_env(env)
    assert any(line.startswith(problem) for line in error.value.problems), error.value.problems


@pytest.mark.parametrize(
    ("connection", "origin"),
    [
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5",
            "https://acct.blob.core.windows.net",
        ),
        (
            "AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
            "https://acct.blob.core.chinacloudapi.cn",
        ),
        ("AccountName=d;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/d;", "http://127.0.0.1:10000"),
    ],
)
def test_redirects_go_to_the_blob_endpoint_origin(connection: str, origin: str) -> None:
    settings = settings_from_env(
        {"STREAM_OFFLOAD": "azure-redirect", "AZURE_STORAGE_CONNECTION_STRING": connection}
    )
    assert redirect_origins(settings) == (origin,)
    assert redirect_origins(settings_from_env({"AZURE_STORAGE_CONNECTION_STRING": connection})) == ()
