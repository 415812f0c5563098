"""Building the Runtime: the one place that picks each port's implementation from the settings."""

from __future__ import annotations

import asyncio

from redis.asyncio import RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.blobstore import create_blob_store
from app.broker import Broker
from app.broker.memory import MemoryBroker
from app.broker.redis_broker import RedisBroker
from app.broker.sharded import ShardedRedisBroker
from app.config import Settings
from app.db.engine import create_engine
from app.domain.accounts.oidc import Oidc
from app.domain.accounts.passwords import PasswordHasher
from app.domain.accounts.tokens import TokenCodec
from app.domain.grants import Grants
from app.domain.media.catalog.streams import SignedStreams
from app.domain.messages.appender import Appender
from app.domain.messages.sql_store import SQLMessageStore
from app.domain.messages.store import MessageStore
from app.domain.playback import MemoryPlayback, RedisPlayback
from app.domain.runtime import Runtime
from app.domain.shared.signing import AttachmentSigner
from app.domain.watching import MemoryWatching, RedisWatching
from app.kv import SharedState
from app.kv.memory import MemoryState
from app.kv.redis_state import RedisClient, RedisState, connect_redis, connect_redis_cluster
from app.ws.delivery import BrokerEvents


def _message_store(settings: Settings, engine: AsyncEngine) -> MessageStore:
    if settings.mongodb_url:
        from app.domain.messages.mongo_store import MongoMessageStore  # noqa: PLC0415 -- only when configured

        return MongoMessageStore(settings.mongodb_url, settings.database_name)
    return SQLMessageStore(engine)


def _redis(settings: Settings) -> RedisClient | None:
    if settings.redis_url is None:
        return None
    if settings.redis_cluster:
        return connect_redis_cluster(settings.redis_url)
    return connect_redis(settings.redis_url)


def _broker(settings: Settings, redis: RedisClient | None) -> Broker:
    if redis is None:
        return MemoryBroker()
    if isinstance(redis, RedisCluster):
        return ShardedRedisBroker(redis, settings.redis_url or "", settings.redis_key_prefix)
    return RedisBroker(redis, settings.redis_key_prefix)


def build_runtime(settings: Settings) -> Runtime:
    engine = create_engine(settings)
    redis = _redis(settings)
    state: SharedState = RedisState(redis, settings.redis_key_prefix) if redis else MemoryState()
    tokens = TokenCodec(
        settings.secret_key,
        settings.algorithm,
        {
            "access": settings.access_token_expire_minutes * 60,
            "refresh": settings.refresh_token_expire_days * 86400,
            "ticket": settings.ws_ticket_expire_seconds,
        },
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    broker = _broker(settings, redis)
    messages = _message_store(settings, engine)
    events = BrokerEvents(broker, Grants())
    signer = AttachmentSigner(settings.secret_key, settings.attachment_url_ttl_seconds)
    blobs = create_blob_store(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis,
        state=state,
        tokens=tokens,
        passwords=PasswordHasher(settings.bcrypt_rounds),
        messages=messages,
        appender=Appender(messages, engine, events, signer),
        broker=broker,
        events=events,
        blobs=blobs,
        streams=SignedStreams(settings, engine, blobs, events.grants),
        attachment_signer=signer,
        playback=RedisPlayback(redis, settings.redis_key_prefix) if redis else MemoryPlayback(),
        watching=RedisWatching(redis, settings.redis_key_prefix) if redis else MemoryWatching(),
        image_slots=asyncio.Semaphore(settings.image_concurrency),
        oidc=Oidc(settings),
    )
