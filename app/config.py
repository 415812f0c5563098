"""Settings: read from the environment once, typed, validated at start-up.

Variable names follow seed 000 (`DATABASE_URL`, `SECRET_KEY`, `REDIS_URL`, ...). With nothing set the
app runs in the embedded mode: SQLite and media under `var/`, in-process broker, and a generated
secret key kept in `var/secret_key` so restarts and workers agree.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import msgspec

Environment = Literal["development", "production"]
Transport = Literal["ws", "sse"]
StreamOffload = Literal["off", "nginx", "azure-redirect"]
STREAM_OFFLOADS: tuple[StreamOffload, ...] = ("off", "nginx", "azure-redirect")
_PREFIX = re.compile(r"/(?:[A-Za-z0-9_-]+/)+")
REALTIME_TRANSPORTS: tuple[Transport, ...] = ("ws", "sse")
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
KiB, MiB, GiB = 1024, 1024**2, 1024**3
MAX_BLOCKS = 50_000  # blocks per blob: Azure's limit, the blob store port's contract (app/blobstore)
RENDITION_HEIGHTS = (144, 240, 360, 480, 720, 1080)  # the renditions TRANSCODE_RENDITIONS may name


class ConfigError(Exception):
    """Raised with every problem found, one line each, so start-up can print them all at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class OidcProvider(msgspec.Struct, frozen=True, kw_only=True):
    """One OpenID Connect identity provider (OIDC_<KEY>_*): Huddle is its relying party."""

    key: str  # lower-case, in the URLs: /api/v1/auth/oidc/<key>/login
    issuer: str  # exactly as the provider's discovery document and ID tokens say it
    client_id: str
    client_secret: str | None = None  # None: a public client (PKCE alone)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    name: str = ""  # the button's "Sign in with <name>"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    environment: Environment = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    algorithm: str = "HS256"
    access_token_expire_minutes: int = 15
    refresh_token_expire_days: int = 30
    ws_ticket_expire_seconds: int = 60
    bcrypt_rounds: int = 12
    database_pool_size: int = 20  # connections kept open per worker (PostgreSQL)
    database_max_overflow: int = 10  # opened beyond that at peaks, closed again after use
    redis_url: str | None = None
    redis_cluster: bool = False  # REDIS_URL is one node of a Redis Cluster: sharded pub/sub
    redis_key_prefix: str = "huddle:"
    mongodb_url: str | None = None
    database_name: str = "chatapp"
    azure_storage_connection_string: str | None = None
    azure_container_name: str = "videos"
    media_dir: Path = Path("var/media")
    max_upload_bytes: int = 2 * GiB
    upload_chunk_bytes: int = 8 * MiB  # offered to resumable uploads that do not ask for a size
    upload_chunk_min_bytes: int = 256 * KiB
    upload_chunk_max_bytes: int = 16 * MiB  # one chunk is held in memory while it is stored
    upload_session_ttl_seconds: int = 24 * 3600  # from the session's last activity
    upload_sweep_interval_seconds: float = 300.0
    stream_url_ttl_seconds: int = 4 * 3600  # a signed URL must outlast the film it plays
    # Who moves a video's bytes once Huddle has authorized the request: Huddle itself (`off`), the
    # nginx in front (`nginx`: X-Accel-Redirect to STREAM_OFFLOAD_PREFIX, local disk only) or the
    # browser straight from Azure (`azure-redirect`: 307 to a short-lived read-only SAS URL).
    stream_offload: StreamOffload = "off"
    stream_offload_prefix: str = "/_protected/"
    stream_sas_ttl_seconds: int = 300  # lifetime of an azure-redirect SAS URL
    attachment_image_max_bytes: int = 20 * MiB
    attachment_pdf_max_bytes: int = 50 * MiB
    attachment_text_max_bytes: int = 5 * MiB
    attachment_zip_max_bytes: int = 100 * MiB
    attachment_max_pixels: int = 50_000_000  # larger images are refused as decompression bombs
    image_concurrency: int = 2  # images decoded at once per worker (each may take a full-size bitmap)
    attachment_url_ttl_seconds: int = 3600
    subtitle_max_bytes: int = 1 * MiB  # one subtitle file (parsed in memory, then stored as WebVTT)
    storage_quota_bytes: int = 10 * GiB  # per user: videos, attachments and unfinished uploads
    group_storage_quota_bytes: int = 50 * GiB  # per group: the same, whoever uploaded them
    upload_sessions_per_user: int = 20  # unfinished resumable uploads at once
    transcode_concurrency: int = 1  # transcode jobs run at once per process; 0: none (API-only replicas)
    transcode_renditions: tuple[int, ...] = (360, 720)  # heights, each made when below the source's
    transcode_timeout_seconds: int = 3600  # one job, every rendition included; ffmpeg is killed past it
    transcode_attempts: int = 3  # a job that fails (or whose worker dies) this often stays failed
    transcode_retry_delay_seconds: int = 30  # before the 2nd attempt; doubles for each one after
    transcode_lease_seconds: int = 60  # a running job unrenewed this long is taken over (worker died)
    transcode_poll_seconds: float = 2.0  # how often an idle runner looks for work
    transcode_realtime: bool = False  # read input no faster than it plays (ffmpeg -re): caps CPU
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    login_rate_limit: int = 10
    login_rate_window_seconds: int = 60
    login_email_failure_limit: int = 100  # failed sign-ins per window per email, from all addresses
    search_rate_limit: int = 30
    search_rate_window_seconds: int = 60
    direct_chat_rate_limit: int = 30  # direct chats a user may start (or try to) per contact window
    member_add_rate_limit: int = 30  # member additions an admin may attempt per contact window
    contact_rate_window_seconds: int = 600
    group_member_limit: int = 100
    mention_all_limit: int = 20  # in larger groups only admins may mention @all / @here
    # Web Push (RFC 8292): the application server's P-256 key, base64url of the raw 32-byte private
    # value; empty: generated once into var/vapid_private_key (except ENVIRONMENT=production: no push).
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:huddle@localhost"  # who push services contact about this server
    push_ttl_seconds: int = 24 * 3600  # how long a push service keeps an undelivered notification
    push_allow_http: bool = False  # accept http:// push endpoints (a local push service in tests)
    ws_allowed_origins: tuple[str, ...] = ()  # empty: same origin only
    ws_send_queue: int = 1024  # events queued per socket before it counts as a slow consumer
    ws_initial_messages: int = 100  # sent to a first connection that has seen nothing yet
    ws_resume_limit: int = 1000  # further behind than this, a resuming client gets `reset`
    ws_idle_timeout_seconds: int = 90
    ws_frames_per_second: int = 20
    ws_sockets_per_user: int = 32  # open sockets of one user across every worker and replica
    realtime_transport: Transport = "ws"  # the web app's default: WebSocket, or SSE + HTTP actions
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs whose X-Forwarded-For is believed
    cors_allow_origins: tuple[str, ...] = ()  # empty: no cross-origin browser access
    metrics_token: str | None = None  # bearer for /metrics; without it, loopback only
    oidc_providers: tuple[OidcProvider, ...] = ()  # sign in with an identity provider (OIDC)
    public_url: str | None = None  # the origin browsers reach Huddle at: OIDC redirect URIs are built on it
    allow_password_signup: bool = True  # false: accounts come from identity providers only
    log_level: str = "INFO"
    debug: bool = False

    @property
    def embedded(self) -> bool:
        """True when the app keeps all of its state in-process and under `var/`."""
        return self.redis_url is None

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'huddle.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


def _normalize_database_url(url: str) -> str:
    """Accept the seed's plain `postgresql://` URLs and pick the async driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


class _Reader:
    """Reads typed values and collects one message per bad variable instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str) -> str:
        return self.env.get(name, "").strip() or default

    def optional(self, name: str) -> str | None:
        return self.env.get(name, "").strip() or None

    def number(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}: expected a whole number, got {raw!r}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name}: must be between {low} and {high}, got {value}")
            return default
        return value

    def flag(self, name: str) -> bool:
        return self.env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.env.get(name, "").split(",") if item.strip()]

    def choice(self, name: str, default: str, choices: tuple[str, ...], convert: Callable[[str], str]) -> str:
        value = convert(self.text(name, default))
        self.check(value in choices, f"{name}: must be one of {', '.join(choices)}, got {value!r}")
        return value


def _networks(r: _Reader, name: str) -> tuple[str, ...]:
    networks = []
    for item in r.items(name):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            r.problems.append(f"{name}: {item!r} is not an IP address or network (CIDR)")
    return tuple(networks)


def _origins(r: _Reader, name: str) -> tuple[str, ...]:
    origins = tuple(item.rstrip("/") for item in r.items(name))
    for origin in origins:
        scheme, _, host = origin.partition("://")
        r.check(
            origin == "*" or (scheme in {"http", "https"} and bool(host) and "/" not in host),
            f"{name}: {origin!r} is not an origin like https://chat.example.com",
        )
    return origins


OIDC_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _oidc_providers(r: _Reader) -> tuple[OidcProvider, ...]:
    """OIDC_PROVIDERS=corp,... and, for each, OIDC_CORP_ISSUER, _CLIENT_ID, _CLIENT_SECRET, _SCOPES, _NAME."""
    providers = []
    for raw in r.items("OIDC_PROVIDERS"):
        key = raw.lower()
        if not OIDC_KEY.match(key):
            r.problems.append(
                f"OIDC_PROVIDERS: {raw!r} must be letters, digits and _ (starting with a letter)"
            )
            continue
        prefix = f"OIDC_{key.upper()}_"
        issuer = r.text(prefix + "ISSUER", "").rstrip("/")
        scheme, _, host = issuer.partition("://")
        r.check(
            scheme == "https" or (scheme == "http" and _loopback_host(host)),
            f"{prefix}ISSUER: required, an https:// URL (http:// only on a loopback address), got {issuer!r}",
        )
        client_id = r.text(prefix + "CLIENT_ID", "")
        r.check(bool(client_id), f"{prefix}CLIENT_ID: required for the provider {key!r}")
        scopes = tuple(r.text(prefix + "SCOPES", "openid email profile").replace(",", " ").split())
        r.check("openid" in scopes, f"{prefix}SCOPES: must include openid, got {' '.join(scopes)!r}")
        providers.append(
            OidcProvider(
                key=key,
                issuer=issuer,
                client_id=client_id,
                client_secret=r.optional(prefix + "CLIENT_SECRET"),
                scopes=scopes,
                name=r.text(prefix + "NAME", key.capitalize()),
            )
        )
    return tuple(providers)


def _loopback_host(host: str) -> bool:
    name = host.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _public_url(r: _Reader) -> str | None:
    url = r.optional("PUBLIC_URL")
    if url is None:
        return None
    url = url.rstrip("/")
    scheme, _, host = url.partition("://")
    r.check(
        scheme in {"http", "https"} and bool(host) and "/" not in host,
        f"PUBLIC_URL: {url!r} is not an origin like https://chat.example.com",
    )
    return url


def _heights(r: _Reader, name: str) -> tuple[int, ...]:
    heights: set[int] = set()
    for item in r.items(name) if name in r.env else ["360", "720"]:
        height = int(item.removesuffix("p")) if item.removesuffix("p").isdigit() else 0
        if height in RENDITION_HEIGHTS:
            heights.add(height)
        else:
            r.problems.append(f"{name}: {item!r} is not one of {', '.join(map(str, RENDITION_HEIGHTS))}")
    return tuple(sorted(heights))


# Words of the templates people copy a key from (deploy/kubernetes/secret.example.yaml says
# "change-me"); six letters or more, so a random key holds one by chance about once in 10^7.
PLACEHOLDER_WORDS = (
    "change",
    "replace",
    "placeholder",
    "example",
    "secret",
    "password",
    "default",
    "insecure",
)
# By letter frequency a random 32-character hex key has about 3.5 bits per character (below 3.0 once
# in 10,000 keys, so 3.0 refused good keys), base64 keys 5 and more.
MIN_SECRET_BITS_PER_CHAR = 2.5
MIN_DISTINCT_QUADS = (
    0.75  # of a key's 4-character windows: a repeated pattern has far fewer, a random key nearly all
)
KEY_RECIPE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def weak_secret(key: str) -> str | None:
    """Why a production SECRET_KEY cannot be trusted (a known placeholder, too little entropy), or None."""
    letters = "".join(ch for ch in key.lower() if ch.isalnum())
    word = next((word for word in PLACEHOLDER_WORDS if word in letters), None)
    if word is not None:
        return f"looks like a placeholder (it contains {word!r}); generate one: {KEY_RECIPE}"
    counts = [key.count(ch) for ch in set(key)]
    bits = -sum(n / len(key) * math.log2(n / len(key)) for n in counts)
    quads = [key[i : i + 4] for i in range(len(key) - 3)]
    if bits < MIN_SECRET_BITS_PER_CHAR or len(set(quads)) < MIN_DISTINCT_QUADS * len(quads):
        return f"has too little entropy (repeated or few distinct characters); generate one: {KEY_RECIPE}"
    return None


def _has_account_key(connection_string: str) -> bool:
    parts = (part.partition("=") for part in connection_string.split(";"))
    return any(name.strip().lower() == "accountkey" and value.strip() for name, _, value in parts)


# The defaults are the Settings fields' own: written once, there.
DEFAULT = Settings()


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate settings; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    r = _Reader(env)
    environment = r.choice("ENVIRONMENT", "development", ("development", "production"), str.lower)
    var_dir = Path(r.text("VAR_DIR", "var"))
    database_url = _normalize_database_url(r.text("DATABASE_URL", ""))
    r.check(
        not database_url or database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")),
        "DATABASE_URL: expected a postgresql:// or sqlite:// URL",
    )
    secret_key = r.text("SECRET_KEY", "")
    if environment == "production":
        r.check(bool(secret_key), "SECRET_KEY: required when ENVIRONMENT=production")
        r.check(not secret_key or not weak_secret(secret_key), f"SECRET_KEY: {weak_secret(secret_key)}")
    r.check(
        not secret_key or len(secret_key) >= MIN_SECRET_LENGTH,
        f"SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters",
    )
    redis_url = r.optional("REDIS_URL")
    r.check(
        redis_url is None or redis_url.startswith(("redis://", "rediss://", "unix://")),
        "REDIS_URL: expected a redis:// or rediss:// URL",
    )
    redis_cluster = r.flag("REDIS_CLUSTER")
    r.check(
        not redis_cluster or redis_url is not None,
        "REDIS_CLUSTER: needs REDIS_URL (any node of the cluster, e.g. redis://host:7000)",
    )
    r.check(
        not redis_cluster or redis_url is None or not redis_url.startswith("unix://"),
        "REDIS_CLUSTER: a cluster is reached over TCP (redis:// or rediss://), not a unix socket",
    )
    workers = r.number("WORKERS", 1, 1, 256)
    r.check(
        workers == 1 or redis_url is not None,
        f"REDIS_URL: required when WORKERS={workers}; workers share real-time state through Redis",
    )
    azure = r.optional("AZURE_STORAGE_CONNECTION_STRING")
    offload = r.choice("STREAM_OFFLOAD", "off", STREAM_OFFLOADS, str.lower)
    offload_prefix = r.text("STREAM_OFFLOAD_PREFIX", "/_protected/")
    r.check(
        offload != "nginx" or azure is None,
        "STREAM_OFFLOAD: nginx serves files from MEDIA_DIR; with AZURE_STORAGE_CONNECTION_STRING use "
        "azure-redirect (or off)",
    )
    r.check(
        offload != "azure-redirect" or azure is not None,
        "STREAM_OFFLOAD: azure-redirect needs AZURE_STORAGE_CONNECTION_STRING (videos on local disk: nginx)",
    )
    r.check(
        offload != "azure-redirect" or azure is None or _has_account_key(azure),
        "STREAM_OFFLOAD: azure-redirect signs SAS URLs with the account key: "
        "AZURE_STORAGE_CONNECTION_STRING needs AccountKey=",
    )
    r.check(
        _PREFIX.fullmatch(offload_prefix) is not None,
        "STREAM_OFFLOAD_PREFIX: an absolute path starting and ending with / (letters, digits, _ and -), "
        f"got {offload_prefix!r}",
    )
    metrics_token = r.optional("METRICS_TOKEN")
    r.check(
        metrics_token is None or len(metrics_token) >= MIN_METRICS_TOKEN_LENGTH,
        f"METRICS_TOKEN: must be at least {MIN_METRICS_TOKEN_LENGTH} characters",
    )
    max_upload = r.number("MAX_UPLOAD_BYTES", 2 * GiB, 1, 4 * 1024 * GiB)
    chunk_min = r.number("UPLOAD_CHUNK_MIN_BYTES", 256 * KiB, 1, 256 * MiB)
    chunk_max = r.number("UPLOAD_CHUNK_MAX_BYTES", 16 * MiB, 1, 256 * MiB)
    chunk = r.number("UPLOAD_CHUNK_BYTES", 8 * MiB, 1, 256 * MiB)
    r.check(
        chunk_min <= chunk <= chunk_max,
        "UPLOAD_CHUNK_BYTES: must lie between UPLOAD_CHUNK_MIN_BYTES and UPLOAD_CHUNK_MAX_BYTES",
    )
    r.check(
        max_upload <= chunk_max * MAX_BLOCKS,
        f"MAX_UPLOAD_BYTES: a resumable upload has at most {MAX_BLOCKS} chunks of "
        "UPLOAD_CHUNK_MAX_BYTES; raise that or lower this",
    )
    vapid_key = r.text("VAPID_PRIVATE_KEY", "")
    r.check(
        not vapid_key or re.fullmatch(r"[A-Za-z0-9_-]{43}=?", vapid_key) is not None,
        "VAPID_PRIVATE_KEY: expected the base64url of a raw 32-byte P-256 private key (43 characters)",
    )
    vapid_subject = r.text("VAPID_SUBJECT", DEFAULT.vapid_subject)
    r.check(
        vapid_subject.startswith(("mailto:", "https://")),
        "VAPID_SUBJECT: expected a mailto: or https:// URL (RFC 8292)",
    )
    settings = Settings(
        environment="production" if environment == "production" else "development",
        var_dir=var_dir,
        database_url=database_url,
        secret_key=secret_key,
        algorithm=r.choice("ALGORITHM", DEFAULT.algorithm, JWT_ALGORITHMS, str.upper),
        access_token_expire_minutes=r.number(
            "ACCESS_TOKEN_EXPIRE_MINUTES", DEFAULT.access_token_expire_minutes, 1, 24 * 60
        ),
        refresh_token_expire_days=r.number(
            "REFRESH_TOKEN_EXPIRE_DAYS", DEFAULT.refresh_token_expire_days, 1, 365
        ),
        bcrypt_rounds=r.number("BCRYPT_ROUNDS", DEFAULT.bcrypt_rounds, 4, 16),
        database_pool_size=r.number("DATABASE_POOL_SIZE", DEFAULT.database_pool_size, 1, 1000),
        database_max_overflow=r.number("DATABASE_MAX_OVERFLOW", DEFAULT.database_max_overflow, 0, 1000),
        redis_url=redis_url,
        redis_cluster=redis_cluster,
        redis_key_prefix=r.text("REDIS_KEY_PREFIX", DEFAULT.redis_key_prefix),
        mongodb_url=r.optional("MONGODB_URL"),
        database_name=r.text("DATABASE_NAME", DEFAULT.database_name),
        azure_storage_connection_string=azure,
        azure_container_name=r.text("AZURE_CONTAINER_NAME", DEFAULT.azure_container_name),
        media_dir=Path(r.text("MEDIA_DIR", str(var_dir / "media"))),
        max_upload_bytes=max_upload,
        upload_chunk_bytes=chunk,
        upload_chunk_min_bytes=chunk_min,
        upload_chunk_max_bytes=chunk_max,
        upload_session_ttl_seconds=r.number(
            "UPLOAD_SESSION_TTL", DEFAULT.upload_session_ttl_seconds, 60, 30 * 24 * 3600
        ),
        upload_sweep_interval_seconds=r.number("UPLOAD_SWEEP_INTERVAL", 300, 1, 24 * 3600),
        stream_url_ttl_seconds=r.number("STREAM_URL_TTL", DEFAULT.stream_url_ttl_seconds, 60, 7 * 24 * 3600),
        stream_offload=next((choice for choice in STREAM_OFFLOADS if choice == offload), "off"),
        stream_offload_prefix=offload_prefix,
        stream_sas_ttl_seconds=r.number("STREAM_SAS_TTL", DEFAULT.stream_sas_ttl_seconds, 30, 3600),
        attachment_image_max_bytes=r.number(
            "ATTACHMENT_IMAGE_MAX_BYTES", DEFAULT.attachment_image_max_bytes, 1, 1024 * GiB
        ),
        attachment_pdf_max_bytes=r.number(
            "ATTACHMENT_PDF_MAX_BYTES", DEFAULT.attachment_pdf_max_bytes, 1, 1024 * GiB
        ),
        attachment_text_max_bytes=r.number(
            "ATTACHMENT_TEXT_MAX_BYTES", DEFAULT.attachment_text_max_bytes, 1, 1024 * GiB
        ),
        attachment_zip_max_bytes=r.number(
            "ATTACHMENT_ZIP_MAX_BYTES", DEFAULT.attachment_zip_max_bytes, 1, 1024 * GiB
        ),
        attachment_max_pixels=r.number(
            "ATTACHMENT_MAX_PIXELS", DEFAULT.attachment_max_pixels, 1, 1_000_000_000
        ),
        image_concurrency=r.number("IMAGE_CONCURRENCY", DEFAULT.image_concurrency, 1, 64),
        attachment_url_ttl_seconds=r.number(
            "ATTACHMENT_URL_TTL", DEFAULT.attachment_url_ttl_seconds, 60, 7 * 24 * 3600
        ),
        subtitle_max_bytes=r.number("SUBTITLE_MAX_BYTES", DEFAULT.subtitle_max_bytes, 1, 16 * MiB),
        storage_quota_bytes=r.number(
            "STORAGE_QUOTA_BYTES", DEFAULT.storage_quota_bytes, 0, 1024 * 1024 * GiB
        ),
        group_storage_quota_bytes=r.number(
            "GROUP_STORAGE_QUOTA_BYTES", DEFAULT.group_storage_quota_bytes, 0, 1024 * 1024 * GiB
        ),
        upload_sessions_per_user=r.number(
            "UPLOAD_SESSIONS_PER_USER", DEFAULT.upload_sessions_per_user, 1, 10_000
        ),
        transcode_concurrency=r.number("TRANSCODE_CONCURRENCY", DEFAULT.transcode_concurrency, 0, 64),
        transcode_renditions=_heights(r, "TRANSCODE_RENDITIONS"),
        transcode_timeout_seconds=r.number(
            "TRANSCODE_TIMEOUT", DEFAULT.transcode_timeout_seconds, 10, 7 * 24 * 3600
        ),
        transcode_attempts=r.number("TRANSCODE_ATTEMPTS", DEFAULT.transcode_attempts, 1, 100),
        transcode_retry_delay_seconds=r.number(
            "TRANSCODE_RETRY_DELAY", DEFAULT.transcode_retry_delay_seconds, 0, 24 * 3600
        ),
        transcode_lease_seconds=r.number("TRANSCODE_LEASE", DEFAULT.transcode_lease_seconds, 2, 3600),
        transcode_poll_seconds=r.number("TRANSCODE_POLL_INTERVAL", 2, 1, 3600),
        transcode_realtime=r.flag("TRANSCODE_REALTIME"),
        ffmpeg_path=r.text("FFMPEG_PATH", DEFAULT.ffmpeg_path),
        ffprobe_path=r.text("FFPROBE_PATH", DEFAULT.ffprobe_path),
        host=r.text("HOST", DEFAULT.host),
        port=r.number("PORT", DEFAULT.port, 1, 65535),
        workers=workers,
        login_rate_limit=r.number("LOGIN_RATE_LIMIT", DEFAULT.login_rate_limit, 1, 100_000),
        login_email_failure_limit=r.number(
            "LOGIN_EMAIL_FAILURE_LIMIT", DEFAULT.login_email_failure_limit, 1, 1_000_000
        ),
        search_rate_limit=r.number("SEARCH_RATE_LIMIT", DEFAULT.search_rate_limit, 1, 100_000),
        direct_chat_rate_limit=r.number("DIRECT_CHAT_RATE_LIMIT", DEFAULT.direct_chat_rate_limit, 1, 100_000),
        member_add_rate_limit=r.number("MEMBER_ADD_RATE_LIMIT", DEFAULT.member_add_rate_limit, 1, 100_000),
        contact_rate_window_seconds=r.number(
            "CONTACT_RATE_WINDOW", DEFAULT.contact_rate_window_seconds, 1, 7 * 24 * 3600
        ),
        group_member_limit=r.number("GROUP_MEMBER_LIMIT", DEFAULT.group_member_limit, 2, 100_000),
        mention_all_limit=r.number("MENTION_ALL_LIMIT", DEFAULT.mention_all_limit, 0, 100_000),
        vapid_private_key=vapid_key,
        vapid_subject=vapid_subject,
        push_ttl_seconds=r.number("PUSH_TTL", DEFAULT.push_ttl_seconds, 0, 28 * 24 * 3600),
        push_allow_http=r.flag("PUSH_ALLOW_HTTP"),
        ws_allowed_origins=tuple(
            origin.strip().rstrip("/")
            for origin in r.text("WS_ALLOWED_ORIGINS", "").split(",")
            if origin.strip()
        ),
        ws_send_queue=r.number("WS_SEND_QUEUE", DEFAULT.ws_send_queue, 16, 1_000_000),
        ws_initial_messages=r.number("WS_INITIAL_MESSAGES", DEFAULT.ws_initial_messages, 0, 1000),
        ws_resume_limit=r.number("WS_RESUME_LIMIT", DEFAULT.ws_resume_limit, 1, 1_000_000),
        ws_idle_timeout_seconds=r.number("WS_IDLE_TIMEOUT", DEFAULT.ws_idle_timeout_seconds, 5, 3600),
        ws_frames_per_second=r.number("WS_FRAMES_PER_SECOND", DEFAULT.ws_frames_per_second, 1, 10_000),
        ws_sockets_per_user=r.number("WS_SOCKETS_PER_USER", DEFAULT.ws_sockets_per_user, 1, 100_000),
        realtime_transport="sse"
        if r.choice("REALTIME_TRANSPORT", "ws", REALTIME_TRANSPORTS, str.lower) == "sse"
        else "ws",
        trusted_proxies=_networks(r, "TRUSTED_PROXIES"),
        cors_allow_origins=_origins(r, "CORS_ALLOW_ORIGINS"),
        metrics_token=metrics_token,
        oidc_providers=_oidc_providers(r),
        public_url=_public_url(r),
        allow_password_signup=r.text("ALLOW_PASSWORD_SIGNUP", "true").lower()
        not in {"0", "false", "no", "off"},
        log_level=r.choice("LOG_LEVEL", DEFAULT.log_level, ("DEBUG", "INFO", "WARNING", "ERROR"), str.upper),
        debug=r.flag("DEBUG"),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def with_embedded_secret(settings: Settings) -> Settings:
    """Fill in the development secret from `var/secret_key`, creating it once (race-free)."""
    if settings.secret_key:
        return settings
    path = settings.var_dir / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
    else:
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError([f"SECRET_KEY: {path} is shorter than {MIN_SECRET_LENGTH} characters; delete it"])
    return msgspec.structs.replace(settings, secret_key=key)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings as the server uses them: validated, with the embedded secret resolved."""
    return with_embedded_secret(settings_from_env(env))
