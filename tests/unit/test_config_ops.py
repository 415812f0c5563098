"""Settings for operations: trusted proxies, CORS allowlist, metrics token; one line per problem."""

from __future__ import annotations

import pytest

from app.config import ConfigError, settings_from_env


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        settings_from_env(env)
    return error.value.problems


def test_defaults_trust_nobody_and_allow_no_origin() -> None:
    settings = settings_from_env({})
    assert settings.trusted_proxies == ()
    assert settings.cors_allow_origins == ()
    assert settings.metrics_token is None


def test_values_are_parsed() -> None:
    settings = settings_from_env(
        {
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,172.16.5.4/16",
            "CORS_ALLOW_ORIGINS": "https://chat.example.com/, http://localhost:5173",
            "METRICS_TOKEN": "m" * 16,
        }
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "172.16.0.0/16")
    assert settings.cors_allow_origins == ("https://chat.example.com", "http://localhost:5173")
    assert settings.metrics_token == "m" * 16


def test_bad_values_are_named() -> None:
    assert _problems(
        {
            "TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal",
            "CORS_ALLOW_ORIGINS": "chat.example.com,https://ok.example,https://x.example/app",
            "METRICS_TOKEN": "short",
        }
    ) == [
        "METRICS_TOKEN: must be at least 16 characters",
        "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network (CIDR)",
        "CORS_ALLOW_ORIGINS: 'chat.example.com' is not an origin like https://chat.example.com",
        "CORS_ALLOW_ORIGINS: 'https://x.example/app' is not an origin like https://chat.example.com",
    ]
