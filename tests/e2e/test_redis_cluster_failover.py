"""Shard failover on a real Redis Cluster (3 masters + 3 replicas of redis-server on loopback, a 1 s
node timeout) under 2 Granian workers on PostgreSQL with REDIS_CLUSTER=1: the master owning a busy
group's channel is SIGKILLed mid-storm, its replica is promoted, every worker moves its sharded
subscription to it, and every reader ends with exactly the committed messages, in order, once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from tests.e2e.test_gateway_cluster import (
    ResumingReader,
    assert_exactly_once_in_order,
    cluster_env,
    send_with_retries,
    start_all,
)
from tests.process import run_server
from tests.redis_cluster import local_cluster
from tests.services import postgres_database
from tests.wsclient import group_with, sign_up

# Several servers and a Redis Cluster start and stop in this test: past the suite's 120 s default.
pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(300)]
START_TIMEOUT = 120  # seconds to answer /health: generous, for a busy machine
PREFIX = "huddle-failover:"
STORM = 120


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        migrate.upgrade(url)
        yield url


def broker_reconnects(metrics: str) -> float:
    found = re.search(r"^huddle_broker_reconnects_total (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_master_killed_mid_storm_loses_nothing(database: str, tmp_path: Path) -> None:
    with (
        local_cluster(tmp_path / "nodes") as cluster,
        run_server(
            tmp_path,
            own_group=True,
            start_timeout=START_TIMEOUT,
            **cluster_env(database, cluster.url, PREFIX, REDIS_CLUSTER="1", LOG_LEVEL="INFO"),
        ) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            ann = await sign_up(http, "Ann")
            readers_users = [await sign_up(http, f"R{i}") for i in range(6)]
            group = await group_with(http, ann, *readers_users)  # seqs 1..6: the add notices
            readers = [ResumingReader(server, user, group) for user in readers_users]
            try:
                await start_all(readers)
                for reader in readers:
                    await reader.wait_for(len(readers_users))
                victim = cluster.master_of(f"{PREFIX}g:{group}")
                last = 0
                for i in range(STORM):
                    if i == STORM // 3:
                        await asyncio.to_thread(cluster.kill, victim)
                        # Readiness holds while the cluster promotes the replica: other masters answer.
                        ready = await http.get("/health/db")
                        assert (ready.status_code, ready.json()["redis"]) == (200, "connected"), ready.text
                    last = max(last, await send_with_retries(http, ann, group, f"storm-{i}"))
                for reader in readers:
                    await reader.wait_for(last, timeout=60)
                    assert_exactly_once_in_order(reader, last)
                    storm = [t for t in reader.texts if t.startswith("storm-")]
                    assert storm == [f"storm-{i}" for i in range(STORM)]
                await asyncio.to_thread(cluster.wait_ok)
                assert victim not in cluster.masters()  # its replica took over the slots
                # Both workers' brokers moved their subscriptions (each had the group's channel).
                metrics = (await http.get("/metrics")).text
                assert broker_reconnects(metrics) >= 1, metrics
                after = await send_with_retries(http, ann, group, "after the failover")
                for reader in readers:
                    await reader.wait_for(after)
                    assert_exactly_once_in_order(reader, after)
                assert "Traceback" not in server.output()
            finally:
                for reader in readers:
                    await reader.stop()
