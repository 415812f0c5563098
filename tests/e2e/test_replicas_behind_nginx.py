"""Many replicas on one box (issue 28, part 3): 4 Huddle replicas (separate `huddle run` processes, 1-2
Granian workers each) behind the repository's nginx configuration as the balancer, on PostgreSQL and
a local 3+3 Redis Cluster (REDIS_CLUSTER=1). Users spread over the replicas chat in shared groups;
mid-storm one replica is SIGKILLed (all its processes, as a container dies) and then the Redis master
owning a busy group's channel; every client reconnects through the balancer, resumes, and ends with
exactly the committed messages, in order, once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
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
from tests.nginx import Balancer, run_nginx
from tests.process import Server, run_server
from tests.redis_cluster import LocalCluster, local_cluster
from tests.services import postgres_database
from tests.wsclient import User, group_with, sign_up

# Several servers and a Redis Cluster start and stop in this test: past the suite's 120 s default.
pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120  # seconds to answer /health: generous, for a busy machine
PREFIX = "huddle-replicas:"
WORKERS = ("2", "1", "1", "2")  # four replicas, 1-2 workers each
STORM = 120


@contextlib.contextmanager
def nginx(tmp_path: Path, replicas: list[Server]) -> Iterator[Balancer]:
    with run_nginx(tmp_path, [replica.port for replica in replicas]) as running:
        yield running


def sockets_per_replica(replicas: list[Server]) -> dict[int, int]:
    """Open sockets on each live replica, summed over its workers (each answers for its own worker,
    so ask until every worker was seen)."""
    counts: dict[int, int] = {}
    for replica in replicas:
        if replica.process.poll() is not None:
            continue
        seen: dict[int, int] = {}
        for _ in range(30):
            stats = httpx.get(f"{replica.url}/api/v1/ws/stats", timeout=5).json()
            seen[stats["worker_pid"]] = stats["sockets"]
        counts[replica.port] = sum(seen.values())
    return counts


def kill_replica(replica: Server) -> None:
    """SIGKILL the replica's whole process group: Granian's main process and its workers at once."""
    os.killpg(replica.process.pid, signal.SIGKILL)
    replica.process.wait()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Balancer, list[Server], LocalCluster]]:
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres_database())
        migrate.upgrade(database)
        cluster = stack.enter_context(local_cluster(tmp_path / "redis"))
        replicas = [
            stack.enter_context(
                run_server(
                    tmp_path,
                    own_group=True,
                    start_timeout=START_TIMEOUT,
                    **cluster_env(
                        database,
                        cluster.url,
                        PREFIX,
                        REDIS_CLUSTER="1",
                        WORKERS=workers,
                        TRUSTED_PROXIES="127.0.0.1/32",
                        MEDIA_DIR=str(tmp_path / "media"),  # shared, as a blob store would be
                    ),
                )
            )
            for workers in WORKERS
        ]
        balancer = stack.enter_context(nginx(tmp_path / "nginx", replicas))
        yield balancer, replicas, cluster


async def test_four_replicas_survive_a_replica_and_a_redis_master_dying(
    deployment: tuple[Balancer, list[Server], LocalCluster],
) -> None:
    balancer, replicas, cluster = deployment
    async with httpx.AsyncClient(base_url=balancer.url, timeout=10) as http:
        ann, bea = await sign_up(http, "Ann"), await sign_up(http, "Bea")
        members = [await sign_up(http, f"R{i}") for i in range(8)]
        groups = [
            await group_with(http, ann, *members[:5]),  # R0..R2 follow both groups
            await group_with(http, bea, *members[:3], *members[5:]),
        ]
        followers: dict[int, list[User]] = {groups[0]: members[:5], groups[1]: members[:3] + members[5:]}
        readers = [ResumingReader(balancer, u, g) for g, users in followers.items() for u in users]  # type: ignore[arg-type]
        try:
            await start_all(readers, timeout=20)
            for reader in readers:
                await reader.wait_for(len(followers[reader.group_id]))  # the add notices
            spread = await asyncio.to_thread(sockets_per_replica, replicas)
            assert sum(spread.values()) == len(readers), spread
            assert sum(1 for count in spread.values() if count) >= 2, f"no spread over replicas: {spread}"
            victim = max(replicas, key=lambda r: spread[r.port])
            master = cluster.master_of(f"{PREFIX}g:{groups[0]}")

            senders = {groups[0]: ann, groups[1]: bea}
            sent: dict[int, list[str]] = {g: [] for g in groups}
            last: dict[int, int] = dict.fromkeys(groups, 0)
            for i in range(STORM):
                if i == STORM // 3:
                    await asyncio.to_thread(kill_replica, victim)
                if i == 2 * STORM // 3:
                    await asyncio.to_thread(cluster.kill, master)
                group = groups[i % 2]
                text = f"storm-{i}"
                last[group] = max(last[group], await send_with_retries(http, senders[group], group, text))
                sent[group].append(text)

            for reader in readers:
                await reader.wait_for(last[reader.group_id], timeout=90)
                assert_exactly_once_in_order(reader, last[reader.group_id])
                storm = [t for t in reader.texts if t.startswith("storm-")]
                assert storm == sent[reader.group_id]
            assert sum(r.reconnects for r in readers) >= spread[victim.port]  # the victim's moved
            assert master not in cluster.masters()
        finally:
            for reader in readers:
                await reader.stop()
