"""Static checks of the deployment files (no container engine runs here): they parse, and every path,
command, environment variable and health route they reference exists in this repository and app."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ConfigError, Settings, settings_from_env
from app.observability.multiproc import ENV as PROMETHEUS_ENV
from app.server.app import DEFAULT_BODY_LIMIT, create_app
from app.server.cli import SHUTDOWN_GRACE_SECONDS, main
from tests.conftest import SECRET
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
COMPOSE = ROOT / "compose.yaml"
NGINX = ROOT / "deploy" / "nginx" / "huddle.conf"
KUBERNETES = ROOT / "deploy" / "kubernetes"
# Set in the files but read by Python, uv or the OS rather than by the app's settings.
PLATFORM_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
PLATFORM_PREFIXES = ("UV_",)


# -- what the app offers -------------------------------------------------------------------------------


def app_variables() -> set[str]:
    """Every variable `settings_from_env` reads: `r.text("NAME"`, `r.number("NAME"`, `_networks(r, "NAME"`."""
    source = (ROOT / "app" / "config.py").read_text()
    body = source.split("def settings_from_env", 1)[1].split("\ndef ", 1)[0]
    names = set(re.findall(r'\br\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', body))
    names |= set(re.findall(r'\b_\w+\(r,\s*"([A-Z][A-Z0-9_]+)"', body))
    return names | {PROMETHEUS_ENV}


def test_the_variable_scan_finds_the_settings() -> None:
    names = app_variables()
    assert {"DATABASE_URL", "SECRET_KEY", "WORKERS", "TRUSTED_PROXIES", "CORS_ALLOW_ORIGINS"} <= names
    assert "METRICS_TOKEN" in names
    assert len(names) > 25


def assert_app_reads(names: set[str], where: str) -> None:
    unknown = {
        name
        for name in names - app_variables() - PLATFORM_VARIABLES
        if not name.startswith(PLATFORM_PREFIXES)
    }
    assert not unknown, f"{where} sets variables the app never reads: {sorted(unknown)}"


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    var = tmp_path_factory.mktemp("routes")
    app = create_app(Settings(secret_key=SECRET, var_dir=var, media_dir=var / "media"))
    return {route.path for route in app.routes}


def assert_cli_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0, f"`huddle {command}` is not a command"
    capsys.readouterr()


def test_huddle_is_the_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["huddle"] == "app.server.cli:main"


# -- Containerfile -----------------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def of(kind: str) -> list[str]:
    return [rest for keyword, rest in instructions(CONTAINERFILE) if keyword == kind]


def test_containerfile_instructions_are_known() -> None:
    known = {"FROM", "ARG", "ENV", "WORKDIR", "RUN", "COPY", "USER", "EXPOSE", "HEALTHCHECK"}
    known |= {"STOPSIGNAL", "ENTRYPOINT", "CMD", "LABEL"}
    assert {keyword for keyword, _ in instructions(CONTAINERFILE)} <= known
    assert CONTAINERFILE.read_text().startswith("# syntax=")  # a parser directive must come first
    stages = [rest.split() for rest in of("FROM")]
    assert [stage[-1] for stage in stages] == ["build", "runtime"]


def _copied_sources() -> list[str]:
    sources = []
    for rest in of("COPY"):
        words = shlex.split(rest)
        if any(word.startswith("--from=") for word in words):
            continue  # from another stage or image
        sources += [word for word in words[:-1] if not word.startswith("--")]
    for rest in of("RUN"):
        sources += re.findall(r"type=bind,source=([^,\s]+)", rest)
    return sources


def test_every_copied_path_exists_and_is_not_ignored() -> None:
    sources = _copied_sources()
    assert {"uv.lock", "pyproject.toml", "app", "db", "README.md"} <= set(sources)
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch(source, pattern) for pattern in ignored), f"{source} is in .dockerignore"
    assert (ROOT / "db" / "migrations" / "env.py").exists()


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = [(keyword, rest) for keyword, rest in instructions(CONTAINERFILE)]
    first_sync = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "--no-install-project" in rest)
    first_app_copy = next(i for i, (k, rest) in enumerate(steps) if k == "COPY" and rest.startswith("app "))
    assert first_sync < first_app_copy
    assert "uv sync --frozen" in steps[first_sync][1]


def test_the_image_runs_huddle_as_a_non_root_user(capsys: pytest.CaptureFixture[str]) -> None:
    [user] = of("USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert json.loads(of("ENTRYPOINT")[0]) == ["huddle"]
    command = json.loads(of("CMD")[0])
    assert command == ["run"]
    assert_cli_command(command[0], capsys)
    assert_cli_command("migrate", capsys)


def _env_of_containerfile() -> dict[str, str]:
    env = {}
    for rest in of("ENV"):
        for item in shlex.split(rest):
            name, _, value = item.partition("=")
            env[name] = value
    return env


def test_the_image_environment_is_read_by_the_app() -> None:
    env = _env_of_containerfile()
    assert_app_reads(set(env), "Containerfile")
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 -- a container must listen on its interface
    assert of("EXPOSE") == [env["PORT"]]
    settings_from_env(
        {k: v for k, v in env.items() if k not in PLATFORM_VARIABLES} | {"REDIS_URL": "redis://r"}
    )


def test_the_healthcheck_is_stdlib_python_on_a_real_route(routes: set[str]) -> None:
    [check] = of("HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")
    assert set(re.findall(r"import ([\w., ]+)", command[2])[0].replace(" ", "").split(",")) <= {
        "os",
        "urllib.request",
    }
    assert re.findall(r"}(/[\w/]*)\"", command[2]) == ["/health"]
    assert "/health" in routes


# -- compose.yaml ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


GENERATED_KEY = secrets.token_urlsafe(48)


def _interpolated(value: str, **given: str) -> str:
    """The value compose would use with SECRET_KEY set (as compose.yaml says: generated), the other
    variables as given, and unset ones at their `:-` or `-` default (`:-` also replaces an empty one)."""
    given = {"SECRET_KEY": GENERATED_KEY} | given

    def value_of(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2) or "", match.group(3) or ""
        if operator == ":-" and not given.get(name):
            return default
        return given.get(name, default if operator == "-" else "")

    return re.sub(r"\$\{(\w+)(?:(:?[?-])([^}]*))?\}", value_of, value)


def test_compose_has_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "azurite", "mongo", "migrate", "app", "lb"} <= set(services)
    assert services["mongo"]["profiles"] == ["mongo"]
    assert services["app"]["deploy"]["replicas"] >= 2
    build = services["migrate"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE


def test_compose_start_order_is_gated_by_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            kind = condition["condition"]
            assert kind in {"service_healthy", "service_completed_successfully"}, (name, target)
            if kind == "service_healthy" and target != "app":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
    assert of("HEALTHCHECK"), "the app's health check comes from the image"
    app = services["app"]["depends_on"]
    assert app["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["lb"]["depends_on"]["app"]["condition"] == "service_healthy"
    grace = services["app"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > SHUTDOWN_GRACE_SECONDS


def test_compose_runs_real_commands_with_settings_the_app_reads(
    compose: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("migrate", "app"):
        service = compose["services"][name]
        assert_cli_command(service["command"][0], capsys)
        env = {key: _interpolated(str(value)) for key, value in service["environment"].items()}
        assert_app_reads(set(env), f"compose service {name}")
        settings = settings_from_env(env)  # a valid configuration, not just known names
        assert settings.environment == "production"
    app_env = compose["services"]["app"]["environment"]
    [subnet] = compose["networks"]["backend"]["ipam"]["config"]
    assert ipaddress.ip_network(app_env["TRUSTED_PROXIES"]) == ipaddress.ip_network(subnet["subnet"])


def test_compose_has_an_optional_redis_cluster_profile(compose: dict[str, Any]) -> None:
    """--profile redis-cluster: six cluster-enabled nodes at fixed addresses (outside the dynamic
    range), made one 3+3 cluster by a one-shot service the app waits for, and an app configuration
    (REDIS_CLUSTER=1, REDIS_URL at a node) that is valid."""
    services = compose["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("redis-node-")}
    assert len(nodes) == 6
    [network] = compose["networks"]["backend"]["ipam"]["config"]
    subnet, dynamic = ipaddress.ip_network(network["subnet"]), ipaddress.ip_network(network["ip_range"])
    addresses = []
    for service in nodes.values():
        assert service["profiles"] == ["redis-cluster"]
        command = service["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        address = ipaddress.ip_address(service["networks"]["backend"]["ipv4_address"])
        assert address in subnet
        assert address not in dynamic
        addresses.append(str(address))
    init = services["redis-cluster-init"]
    assert init["profiles"] == ["redis-cluster"]
    assert set(init["depends_on"]) == set(nodes)
    script = " ".join(init["command"])
    assert "--cluster create " + " ".join(f"{a}:6379" for a in sorted(addresses)) in script
    assert "--cluster-replicas 1 --cluster-yes" in script
    waits = services["app"]["depends_on"]["redis-cluster-init"]
    assert waits == {"condition": "service_completed_successfully", "required": False}
    given = {"REDIS_CLUSTER": "1", "REDIS_URL": f"redis://{addresses[0]}:6379"}
    env = {k: _interpolated(str(v), **given) for k, v in services["app"]["environment"].items()}
    settings = settings_from_env(env)
    assert (settings.redis_cluster, settings.redis_url) == (True, given["REDIS_URL"])
    plain = settings_from_env({k: _interpolated(str(v)) for k, v in services["app"]["environment"].items()})
    assert (plain.redis_cluster, plain.redis_url) == (False, "redis://redis:6379/0")


def test_compose_mounts_existing_files(compose: dict[str, Any]) -> None:
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert mounts == ["./deploy/nginx/huddle.conf"]
    for mount in mounts:
        assert (ROOT / mount).is_file()


# -- nginx ------------------------------------------------------------------------------------------------


def nginx_blocks(text: str) -> list[Any]:
    """A tiny nginx parser: [name, args, children] for blocks, [name, args] for directives."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', re.sub(r"#[^\n]*", "", text))
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block: list[Any] = [words[0], words[1:], []]
            stack[-1].append(block)
            stack.append(block[2])
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
            assert stack, "unbalanced }"
        elif token == ";":
            stack[-1].append([words[0], words[1:]])
            words = []
        else:
            words.append(token.strip("\"'"))
    assert len(stack) == 1, "unbalanced {"
    assert not words, "unterminated directive at the end"
    return stack[0]


def directives(items: list[Any], name: str) -> Iterator[list[Any]]:
    for item in items:
        if item[0] == name:
            yield item
        if len(item) == 3:
            yield from directives(item[2], name)


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def test_nginx_passes_websockets_and_streams(compose: dict[str, Any]) -> None:
    config = nginx_blocks(NGINX.read_text())
    [server] = [item for item in config if item[0] == "server"]
    headers = {args[0].lower(): args[1] for _, args in directives(server[2], "proxy_set_header")}
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["host"] == "$http_host"  # with the port, as the socket's Origin check expects
    locations = {block[1][-1]: block[2] for block in directives(server[2], "location")}
    socket = {item[0]: item[1] for item in locations["/ws"] if len(item) == 2}
    assert _seconds(socket["proxy_read_timeout"][0]) > Settings().ws_idle_timeout_seconds
    assert socket["proxy_buffering"] == ["off"]
    everything = {item[0]: item[1] for item in locations["/"] if len(item) == 2}
    assert everything["proxy_buffering"] == ["off"]
    assert everything["proxy_request_buffering"] == ["off"]
    assert locations["/metrics"] == [["return", ["404"]]]
    [[_, [limit]]] = directives(server[2], "client_max_body_size")
    upload_limit = getattr(Settings(), "max_upload_bytes", 0)
    assert _size(limit) >= max(DEFAULT_BODY_LIMIT, upload_limit)
    [upstream] = [item for item in config if item[0] == "upstream"]
    [[_, [target, *_]]] = directives(upstream[2], "server")
    host, port = target.split(":")
    assert host in compose["services"]
    assert port == compose["services"]["app"]["environment"]["PORT"]


LOCAL_MEDIA = ROOT / "deploy" / "kubernetes-local-media"


def _protected(text: str) -> tuple[list[Any], list[Any]]:
    """The offload location of an nginx config and the map it uses."""
    config = nginx_blocks(text)
    [server] = [item for item in config if item[0] == "server"]
    locations = {block[1][-1]: block[2] for block in directives(server[2], "location")}
    [accept_ranges] = [item for item in config if item[0] == "map" and item[1][-1] == "$huddle_accept_ranges"]
    return locations[Settings().stream_offload_prefix], accept_ranges


def test_the_kubernetes_sidecar_serves_videos_as_the_balancer_does(
    manifests: dict[tuple[str, str], Any],
) -> None:
    """deploy/kubernetes-local-media (STREAM_OFFLOAD=nginx on Kubernetes) copies the balancer's
    /_protected/ location: kept identical here."""
    assert _protected((LOCAL_MEDIA / "nginx.conf").read_text()) == _protected(NGINX.read_text())
    kustomization = yaml.safe_load((LOCAL_MEDIA / "kustomization.yaml").read_text())
    patch = yaml.safe_load((LOCAL_MEDIA / "deployment-patch.yaml").read_text())
    app, sidecar = patch["spec"]["template"]["spec"]["containers"]
    assert app["name"] == _container(manifests[("Deployment", "huddle")])["name"]
    [port] = sidecar["ports"]
    assert f"value: {port['name']}" in kustomization["patches"][1]["patch"]
    [protected_alias] = [item[1][0] for item in _protected(NGINX.read_text())[0] if item[0] == "alias"]
    mounts = {mount["mountPath"]: mount for mount in sidecar["volumeMounts"]}
    assert mounts[protected_alias.rstrip("/")]["readOnly"] is True
    config = manifests[("ConfigMap", "huddle-config")]["data"]
    secret = manifests[("Secret", "huddle-secrets")]["stringData"]
    secret = {k: v for k, v in secret.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    patched = {**config, **secret, "SECRET_KEY": secrets.token_urlsafe(48)}
    for operation in yaml.safe_load(kustomization["patches"][2]["patch"]):
        patched[operation["path"].rsplit("/", 1)[1]] = operation["value"]
    settings = settings_from_env(patched)
    assert settings.stream_offload == "nginx"
    assert app["volumeMounts"][0]["mountPath"] == str(settings.media_dir)
    assert "127.0.0.1/32" in settings.trusted_proxies


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        unavailable("nginx is not installed (apt-get install nginx-light); the structural check ran")
    # Compose service names do not resolve here, and nginx resolves upstreams while testing.
    (tmp_path / "huddle.conf").write_text(
        NGINX.read_text().replace("server app:", "server 127.0.0.1:")
        # The Kubernetes sidecar's configuration too, on a port of its own.
        + (LOCAL_MEDIA / "nginx.conf").read_text().replace("listen 8080;", "listen 127.0.0.1:8081;")
    )
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path / 'huddle.conf'}; }}\n"
    )
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- Kubernetes -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] == "Kustomization":
                continue
            assert document["apiVersion"], path
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_kustomization_lists_existing_files(manifests: dict[tuple[str, str], Any]) -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (KUBERNETES / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]  # placeholders are never applied
    images = {image["name"] for image in kustomization["images"]}
    for kind in ("Deployment", "Job"):
        for (found_kind, _), document in manifests.items():
            if found_kind == kind:
                assert {c["image"] for c in document["spec"]["template"]["spec"]["containers"]} <= images


def _container(document: dict[str, Any]) -> dict[str, Any]:
    [container] = document["spec"]["template"]["spec"]["containers"]
    return container


def _probe_path(container: dict[str, Any], probe: str) -> str:
    path: str = container[probe]["httpGet"]["path"]
    return path


def test_deployment(
    manifests: dict[tuple[str, str], Any], routes: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = manifests[("Deployment", "huddle")]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    container = _container(deployment)
    assert_cli_command(container["args"][0], capsys)
    assert _probe_path(container, "readinessProbe") == "/health/db"
    assert _probe_path(container, "livenessProbe") == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert _probe_path(container, probe) in routes
        assert container[probe]["httpGet"]["port"] in {port["name"] for port in container["ports"]}
    assert pod["terminationGracePeriodSeconds"] > SHUTDOWN_GRACE_SECONDS
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["python", "-c"]
    compile(pre_stop[2], "preStop", "exec")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_service_and_autoscaler_point_at_the_deployment(manifests: dict[tuple[str, str], Any]) -> None:
    deployment = manifests[("Deployment", "huddle")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = manifests[("Service", "huddle")]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {port["name"] for port in _container(deployment)["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports
    autoscaler = manifests[("HorizontalPodAutoscaler", "huddle")]
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "huddle")
    assert autoscaler["spec"]["minReplicas"] >= 2
    ingress = manifests[("Ingress", "huddle")]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "huddle"
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def test_migrate_job(manifests: dict[tuple[str, str], Any], capsys: pytest.CaptureFixture[str]) -> None:
    job = manifests[("Job", "huddle-migrate")]
    container = _container(job)
    assert container["args"] == ["migrate"]
    assert_cli_command("migrate", capsys)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_configuration_is_read_by_the_app_and_valid(manifests: dict[tuple[str, str], Any]) -> None:
    config = manifests[("ConfigMap", "huddle-config")]["data"]
    secret = manifests[("Secret", "huddle-secrets")]["stringData"]
    assert_app_reads(set(config), "the ConfigMap")
    assert_app_reads(set(secret), "the Secret")
    for kind in ("Deployment", "Job"):
        for (found_kind, _), document in manifests.items():
            if found_kind != kind:
                continue
            for source in _container(document)["envFrom"]:
                ref = source.get("configMapRef") or source.get("secretRef")
                ref_kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (ref_kind, ref["name"]) in manifests
    env = {k: str(v) for k, v in (config | secret).items()}
    # The example's placeholder key is refused in production (security review, issue 22, item 8b)...
    with pytest.raises(ConfigError) as refused:
        settings_from_env(env)
    assert [problem.split(":")[0] for problem in refused.value.problems] == ["SECRET_KEY"]
    # ...and the rest is valid once the key is generated as the example's comment says.
    settings = settings_from_env(env | {"SECRET_KEY": secrets.token_urlsafe(48)})
    assert settings.workers >= 1
    assert settings.environment == "production"


def test_compose_shares_the_media_folder_read_only_with_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    given = {"AZURE_STORAGE_CONNECTION_STRING": "", "STREAM_OFFLOAD": "nginx"}
    env = {k: _interpolated(str(v), **given) for k, v in services["app"]["environment"].items()}
    settings = settings_from_env(env)
    assert (settings.stream_offload, settings.azure_storage_connection_string) == ("nginx", None)
    default = settings_from_env({k: _interpolated(str(v)) for k, v in services["app"]["environment"].items()})
    assert default.stream_offload == "off"
    assert default.azure_storage_connection_string  # Azurite unless asked otherwise
    assert f"media:{settings.media_dir}" in services["app"]["volumes"]
    config = nginx_blocks(NGINX.read_text())
    [server] = [item for item in config if item[0] == "server"]
    locations = {block[1][-1]: block[2] for block in directives(server[2], "location")}
    protected = {item[0]: item[1] for item in locations[settings.stream_offload_prefix] if len(item) == 2}
    assert protected["internal"] == []
    [alias] = protected["alias"]
    assert f"media:{alias.rstrip('/')}:ro" in services["lb"]["volumes"]
    assert "media" in compose["volumes"]
