"""The real distribution registry (Debian's ``docker-registry``), run on 127.0.0.1 for tests.

Each instance gets its own storage folder, a free port and a config written from scratch (the
packaged ``/etc/docker/registry/config.yml`` is never used). Deletes are enabled and upload
purging is off, as ``../shared/reference/registry-setup.md`` recommends for tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import urllib3

PROGRAM = "docker-registry"
_READY_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RegistryStartError(RuntimeError):
    """The registry process did not come up; the message carries its log."""


class DistributionRegistry:
    """One registry process: ``start()``/``stop()`` or use it as a context manager.

    :param workdir: a folder of its own (config, storage and log go there).
    :param access_log: write a line per request to the log, for tests that count requests.
    :param extra_config: YAML appended at the top level of the config (``auth:`` sections, say).
    :param tls: (certificate, key) files: serve https.
    :param client_cas: a CA file: require client certificates it signed (``probe_cert`` is one,
        for the readiness check).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        access_log: bool = False,
        extra_config: str = "",
        tls: tuple[Path, Path] | None = None,
        client_cas: Path | None = None,
        probe_cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.workdir = workdir
        self.storage = workdir / "data"
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "registry.log"
        self.access_log = access_log
        self.extra_config = extra_config
        self.tls = tls
        self.client_cas = client_cas
        self.probe_cert = probe_cert
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: the registry part of references to this registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL, ``http(s)://127.0.0.1:<port>``."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def config_text(self) -> str:
        """The registry's YAML configuration."""
        return (
            "version: 0.1\n"
            "log:\n"
            "  level: warn\n"
            "  formatter: text\n"
            "  accesslog:\n"
            f"    disabled: {'false' if self.access_log else 'true'}\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {self.storage}\n"
            "  delete:\n"
            "    enabled: true\n"
            "  cache:\n"
            "    blobdescriptor: inmemory\n"
            "  maintenance:\n"
            "    uploadpurging:\n"
            "      enabled: false\n"
            "http:\n"
            f"  addr: {self.host}\n"
            "  secret: ocimodel-test-secret\n"
            "  headers:\n"
            "    X-Content-Type-Options: [nosniff]\n"
            + (f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n" if self.tls else "")
            + (f"    clientcas:\n      - {self.client_cas}\n" if self.client_cas else "")
            + self.extra_config
        )

    def start(self) -> None:
        """Start the process and wait until ``GET /v2/`` answers; raise :class:`RegistryStartError` if not."""
        if shutil.which(PROGRAM) is None:
            raise RegistryStartError(f"{PROGRAM} is not on PATH: run scripts/install-system-deps")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        self.port = free_port()
        self.config_path.write_text(self.config_text())
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [PROGRAM, "serve", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        http = urllib3.PoolManager(
            retries=False,
            timeout=urllib3.Timeout(connect=0.5, read=2.0),
            ca_certs=str(self.tls[0]) if self.tls else None,
            cert_file=str(self.probe_cert[0]) if self.probe_cert else None,
            key_file=str(self.probe_cert[1]) if self.probe_cert else None,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RegistryStartError(f"{PROGRAM} exited with status {self._process.returncode}:\n{self.log()}")
            try:
                response = http.request("GET", f"{self.url}/v2/")
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
                continue
            if response.status in (200, 401):
                return
            time.sleep(0.05)
        self.stop()
        raise RegistryStartError(f"{PROGRAM} did not answer on {self.url} within {_READY_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        """Everything the registry has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the process (politely, then firmly); safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> DistributionRegistry:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
