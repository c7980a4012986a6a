"""A single-node Apache Kafka (KRaft, combined broker+controller) started from Maven jars.

The jars come from Maven Central through deploy/kafka/pom.xml (`mvn dependency:copy-dependencies`)
and are cached per Kafka version under the state folder; the server runs with the machine's Java.
"""

from __future__ import annotations

import asyncio
import base64
import re
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError, ServiceError
from ..settings import ConnectionSettings, DevSettings
from . import kafka_security, process

HOST = "127.0.0.1"


@dataclass
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    version: str
    secure: bool = False


class KafkaServer:
    def __init__(self, settings: DevSettings) -> None:
        self.settings = settings
        self.deploy_dir = settings.project_root / "deploy" / "kafka"
        self.home = settings.state / "kafka"
        self.version = self._pinned_version()
        # Shared by every stack of this user: a second stack does not fetch 54 MB again.
        self.libs = settings.kafka_jars / self.version
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "kafka.pid"
        self.config_file = self.home / "server.properties"
        # Put on the java command line so `down` can find strays of this state folder.
        self.marker = f"-Dbizevents.home={self.home}"
        # Secured mode (SASL + ACLs) is chosen at `up --secure` and remembered by this file.
        self.secure_marker = self.home / "secured"
        self.secure = settings.kafka_secure or self.secure_marker.exists()
        self.admin_password_file = self.home / "admin.password"
        self.controller_password_file = self.home / "controller.password"

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.settings.kafka_port}"

    def _pinned_version(self) -> str:
        pom = self.deploy_dir / "pom.xml"
        try:
            match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
        except OSError as exc:
            raise ConfigurationError(f"cannot read {pom}: run from a bizevents checkout") from exc
        if not match:
            raise ConfigurationError(f"{pom} has no <kafka.version> property")
        return match.group(1).strip()

    def admin_settings(self) -> ConnectionSettings:
        """Connection settings of the broker's admin (a super user when secured)."""
        if not self.secure:
            return ConnectionSettings(
                kafka_bootstrap=self.bootstrap,
                kafka_security_protocol="PLAINTEXT",
                kafka_sasl_username=None,
                kafka_sasl_password=None,
            )
        admin = kafka_security.load_or_create(self.admin_password_file, kafka_security.ADMIN)
        return ConnectionSettings(
            kafka_bootstrap=self.bootstrap,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism=kafka_security.MECHANISM,
            kafka_sasl_username=admin.username,
            kafka_sasl_password=admin.password,
        )

    # -- fetching ---------------------------------------------------------------------------
    def fetch(self) -> None:
        """Download the pinned server jars once (a marker file says the copy is complete)."""
        done = self.libs / ".complete"
        if done.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigurationError("Maven (mvn) is needed to fetch the Kafka server jars")
        # Fetched beside the final folder and renamed into place: two stacks starting at once
        # never see a half-copied folder.
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{self.version}-", dir=self.libs.parent))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(self.deploy_dir / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServiceError(
                f"fetching Kafka {self.version} with Maven failed:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        (partial / ".complete").touch()
        if self.libs.exists():  # an incomplete copy left by an interrupted fetch
            shutil.rmtree(self.libs, ignore_errors=True)
        try:
            partial.rename(self.libs)
        except OSError:  # another stack finished first
            shutil.rmtree(partial, ignore_errors=True)

    # -- lifecycle --------------------------------------------------------------------------
    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise ConfigurationError("Java 17+ is needed to run Kafka (install openjdk-17-jre)")
        return java

    def _listener_lines(self) -> list[str]:
        s = self.settings
        if self.secure:
            return kafka_security.server_properties(
                HOST,
                s.kafka_port,
                s.controller_port,
                kafka_security.load_or_create(self.admin_password_file, kafka_security.ADMIN),
                kafka_security.load_or_create(
                    self.controller_password_file, kafka_security.CONTROLLER
                ),
            )
        return [
            f"listeners=PLAINTEXT://{HOST}:{s.kafka_port},CONTROLLER://{HOST}:{s.controller_port}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{s.kafka_port}",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "auto.create.topics.enable=true",
        ]

    def _write_config(self) -> None:
        s = self.settings
        # Secured, the file holds the broker's own passwords: owner-only from the start.
        kafka_security.write_private(
            self.config_file,
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{HOST}:{s.controller_port}",
                    "controller.listener.names=CONTROLLER",
                    *self._listener_lines(),
                    f"log.dirs={self.data}",
                    "num.partitions=3",
                    # A single node cannot meet the default replication factor of 3.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    # Test suites create many short-lived groups: join at once.
                    "group.initial.rebalance.delay.ms=0",
                    "delete.topic.enable=true",
                    "",
                ]
            ),
        )

    def _format_storage(self, java: str) -> None:
        if (self.data / "meta.properties").exists():
            if self.secure and not self.secure_marker.exists():
                raise ServiceError(
                    f"the Kafka data under {self.data} belongs to an unsecured broker: "
                    "run `bizevents dev down --wipe` first, or use another BIZEVENTS_STATE_DIR"
                )
            return
        cluster_id = new_cluster_id()
        scram: list[str] = []
        if self.secure:
            admin = kafka_security.load_or_create(self.admin_password_file, kafka_security.ADMIN)
            scram = ["--add-scram", kafka_security.format_scram_argument(admin)]
        result = subprocess.run(
            [
                java,
                "-cp",
                f"{self.libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
                *scram,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
        if self.secure:
            self.secure_marker.touch()

    def running_pid(self) -> int | None:
        pid = process.read_pid(self.pid_file)
        return pid if pid is not None and process.alive(pid) else None

    def start(self) -> None:
        """Idempotent: does nothing when our broker already answers. On any failure the broker
        is stopped again and the error carries the end of its logs."""
        if self.running_pid() is not None and self.ready():
            return
        self.preflight()
        java = self._java()
        self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format_storage(java)
        log4j = self.deploy_dir / "log4j2.properties"
        cmd = [
            java,
            "-Xms256m",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs}",
            f"-Dlog4j2.configurationFile={log4j}",
            self.marker,
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]
        # Only what this start writes is shown on failure (the files grow across runs).
        marks = {name: process.size(self.logs / name) for name in ("stdout.log", "server.log")}
        with open(self.logs / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_raise_open_files_limit,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + self.settings.kafka_start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.stop()
                raise ServiceError(
                    f"Kafka exited with code {proc.returncode}:\n{self._log_report(marks)}"
                )
            if self.ready():
                return
            time.sleep(0.5)
        self.stop()
        raise ServiceError(
            f"Kafka did not answer within {self.settings.kafka_start_timeout}s "
            f"(BIZEVENTS_KAFKA_START_TIMEOUT); stopped it again:\n{self._log_report(marks)}"
        )

    def preflight(self) -> None:
        """Both listeners free (unless our broker runs), checked before anything starts: a taken
        controller port otherwise shows up only as an exit code with the reason in server.log."""
        if self.running_pid() is not None:
            return
        wanted = [
            (self.settings.kafka_port, "BIZEVENTS_KAFKA_PORT"),
            (self.settings.controller_port, "BIZEVENTS_KAFKA_CONTROLLER_PORT"),
        ]
        for port, variable in wanted:
            if not process.port_free(HOST, port):
                raise ServiceError(
                    f"Kafka needs port {port} on {HOST} but another process holds it; "
                    f"set {variable} to a free port"
                )

    def _log_report(self, marks: dict[str, int]) -> str:
        parts = []
        for name, start in marks.items():
            text = process.tail_since(self.logs / name, start)
            if text:
                parts.append(f"--- {self.logs / name} (last lines) ---\n{text}")
        return "\n".join(parts) or f"(nothing in {self.logs})"

    def ready(self) -> bool:
        """Ready means a real metadata request succeeds, not merely an open port."""
        if not process.port_open(HOST, self.settings.kafka_port):
            return False
        return asyncio.run(_metadata_ok(self.admin_settings()))

    def wipe(self) -> None:
        """Delete the broker's data (topics, offsets, users; jars stay cached). Stop it first."""
        shutil.rmtree(self.data, ignore_errors=True)
        for path in (self.secure_marker, self.admin_password_file, self.controller_password_file):
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        pid = process.read_pid(self.pid_file)
        if pid is not None:
            process.terminate(pid, timeout=30)
        for stray in process.pids_with_marker(self.marker):
            process.terminate(stray, timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def status(self) -> KafkaStatus:
        pid = self.running_pid()
        return KafkaStatus(
            running=pid is not None and self.ready(),
            pid=pid,
            bootstrap=self.bootstrap,
            version=self.version,
            secure=self.secure,
        )


def new_cluster_id() -> str:
    """A random cluster id as Kafka writes them (base64url of 16 bytes). One that starts with "-"
    is drawn again, as Kafka's own `Uuid.randomUuid` does: the storage tool would read it as an
    option (`-t -x...`: "expected one argument"), one start in 64."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


# Kafka keeps files open per partition; test suites create thousands of partitions.
WANTED_OPEN_FILES = 1_048_576


def _raise_open_files_limit() -> None:
    """In the Kafka child: as many open files as allowed (root may raise the hard limit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (WANTED_OPEN_FILES, WANTED_OPEN_FILES))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _metadata_ok(settings: ConnectionSettings) -> bool:
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(**settings.kafka_client_options(), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=5)
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()
