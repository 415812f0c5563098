"""A real Redis Cluster on loopback for tests: 3 masters + 3 replicas of Debian's redis-server (7.x,
sharded pub/sub), in a temporary folder, on free ports, created with `redis-cli --cluster create`.

A short node timeout lets a test kill a master and see its replica promoted within seconds. Missing
redis-server or redis-cli skips (fails under HUDDLE_REQUIRE_SERVICES=1, like the other services).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.services import unavailable

NODE_TIMEOUT_MS = 1000
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_ports(count: int) -> list[int]:
    """Ports whose bus port (+10000) is free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in ports and _free(port + BUS_OFFSET):
            ports.append(port)
    return ports


class LocalCluster:
    def __init__(self, folder: Path, ports: list[int]) -> None:
        self.folder = folder
        self.ports = ports
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=2)

    def start_node(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(folder / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--cluster-replica-validity-factor",
                "0",  # any replica may take over, however long its master was gone
                "--appendonly",
                "no",
                "--save",
                "",
                "--dir",
                str(folder),
                "--logfile",
                str(folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_answering(self, port: int, timeout: float = 10) -> None:
        client = self.node(port)
        deadline = time.monotonic() + timeout
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on {port} not answering after {timeout}s")
                time.sleep(0.05)
        finally:
            client.close()

    def masters(self) -> list[int]:
        """Ports of the masters that own slots, as a live node sees them now."""
        client = self.node(self.live_ports()[0])
        try:
            slots = client.execute_command("CLUSTER", "SLOTS")
        finally:
            client.close()
        return sorted({int(master[1]) for _, _, master, *_ in slots})

    def live_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def master_of(self, key: str) -> int:
        """The port of the master owning the key's (or channel's) slot."""
        client = self.node(self.live_ports()[0])
        try:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        finally:
            client.close()
        raise AssertionError(f"no master owns slot of {key}")

    def wait_ok(self, timeout: float = 30) -> None:
        """Every live node says cluster_state:ok and agrees on who owns every slot."""
        deadline = time.monotonic() + timeout
        while True:
            if self._ok():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster not ok after {timeout}s: {self._states()}")
            time.sleep(0.1)

    def wait_replicas(self, count: int, timeout: float = 30) -> None:
        """Every master lists `count` replicas of its own: `cluster_state:ok` comes before the
        masters have heard (by gossip) of the replicas `--cluster create` attached to them."""
        deadline = time.monotonic() + timeout
        while True:
            listed = {port: len(self.replicas(port)) for port in self.masters()}
            if set(listed.values()) == {count}:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas per master after {timeout}s: {listed}")
            time.sleep(0.1)

    def replicas(self, master_port: int) -> list[int]:
        """Ports of the replicas this master knows of."""
        client = self.node(master_port)
        try:
            lines = client.execute_command("CLUSTER", "REPLICAS", client.execute_command("CLUSTER", "MYID"))
        finally:
            client.close()
        # `<id> 127.0.0.1:<port>@<bus port> slave <master id> ...`
        return [int(line.decode().split()[1].split("@")[0].rsplit(":", 1)[1]) for line in lines]

    def _states(self) -> dict[int, str]:
        states = {}
        for port in self.live_ports():
            client = self.node(port)
            try:
                info = client.execute_command("CLUSTER", "INFO").decode()
                states[port] = next(
                    line.split(":", 1)[1].strip()
                    for line in info.splitlines()
                    if line.startswith("cluster_state:")
                )
            except redis.RedisError as error:
                states[port] = repr(error)
            finally:
                client.close()
        return states

    def _ok(self) -> bool:
        if set(self._states().values()) != {"ok"}:
            return False
        views = set()
        for port in self.live_ports():
            client = self.node(port)
            try:
                slots = client.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                return False
            finally:
                client.close()
            views.add(tuple(sorted((int(s), int(e), int(m[1])) for s, e, m, *_ in slots)))
        if len(views) != 1:
            return False
        (view,) = views
        live = set(self.live_ports())
        return sum(e - s + 1 for s, e, _ in view) == 16384 and all(m in live for _, _, m in view)

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def freeze(self, port: int) -> None:
        """SIGSTOP: the node holds its connections open and answers nothing."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


@contextlib.contextmanager
def local_cluster(folder: Path, masters: int = 3, replicas: int = 1) -> Iterator[LocalCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        unavailable("redis-server and redis-cli are not installed (apt-get install -y redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(folder, free_cluster_ports(masters * (1 + replicas)))
    try:
        for port in cluster.ports:
            cluster.start_node(port)
        for port in cluster.ports:
            cluster.wait_answering(port)
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in cluster.ports),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout!r} {created.stderr!r}")
        cluster.wait_ok()
        cluster.wait_replicas(replicas)
        yield cluster
    finally:
        cluster.stop_all()
