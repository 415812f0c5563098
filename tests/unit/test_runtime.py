"""The runtime picks its adapters from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import RedisCluster

from app.blobstore import LocalBlobStore
from app.blobstore.azure import AzureBlobStore
from app.broker.sharded import ShardedRedisBroker
from app.config import Settings
from app.domain.messages.mongo_store import MongoMessageStore
from app.domain.messages.sql_store import SQLMessageStore
from app.kv.memory import MemoryState
from app.kv.redis_state import RedisState
from app.server.runtime import build_runtime
from tests.azurite import connection_string

pytestmark = pytest.mark.anyio


async def test_embedded_runtime_uses_sql_and_memory() -> None:
    runtime = build_runtime(Settings(secret_key="k" * 40, database_url="sqlite+aiosqlite:///:memory:"))
    try:
        assert isinstance(runtime.messages, SQLMessageStore)
        assert isinstance(runtime.state, MemoryState)
        assert runtime.redis is None
    finally:
        await runtime.close()


async def test_configured_services_are_chosen() -> None:
    settings = Settings(
        secret_key="k" * 40,
        database_url="sqlite+aiosqlite:///:memory:",
        mongodb_url="mongodb://127.0.0.1:1",  # the client connects lazily: nothing is contacted here
        redis_url="redis://127.0.0.1:1/0",
    )
    runtime = build_runtime(settings)
    try:
        assert isinstance(runtime.messages, MongoMessageStore)
        assert isinstance(runtime.state, RedisState)
    finally:
        await runtime.close()


async def test_a_redis_cluster_gets_the_sharded_broker() -> None:
    settings = Settings(
        secret_key="k" * 40,
        database_url="sqlite+aiosqlite:///:memory:",
        redis_url="redis://127.0.0.1:1",  # the cluster client reads the slot map lazily
        redis_cluster=True,
    )
    runtime = build_runtime(settings)
    try:
        assert isinstance(runtime.redis, RedisCluster)
        assert isinstance(runtime.broker, ShardedRedisBroker)
        assert isinstance(runtime.state, RedisState)
    finally:
        await runtime.close()


async def test_blob_store_follows_the_settings(tmp_path: Path) -> None:
    local = build_runtime(
        Settings(secret_key="k" * 40, database_url="sqlite+aiosqlite:///:memory:", media_dir=tmp_path)
    )
    try:
        assert isinstance(local.blobs, LocalBlobStore)
        assert local.blobs.root == tmp_path.absolute()
    finally:
        await local.close()
    azure = build_runtime(
        Settings(
            secret_key="k" * 40,
            database_url="sqlite+aiosqlite:///:memory:",
            # Nothing listens there; the client connects lazily, so nothing is contacted here.
            azure_storage_connection_string=connection_string(1),
        )
    )
    try:
        assert isinstance(azure.blobs, AzureBlobStore)
    finally:
        await azure.close()
