"""A team's MLflow tracking server: `mlflow server` on PostgreSQL, with proxied artifacts.

    imdb-sentiment tracking-server --data-dir /srv/imdb-mlflow            # port 5000
    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 dvc repro                   # everyone else

With only ``--data-dir``, the server keeps everything in that folder: a PostgreSQL cluster of
its own (``postgres/``, initialised on first start, password in ``postgres-password``) and the
artifacts (``artifacts/``). The cluster also holds a database ``optuna`` for the tuning
search's shared studies (``imdb-sentiment tune --storage URL``; the server prints the URL).
``--backend-store-uri`` uses an existing PostgreSQL database instead. ``--basic-auth`` turns
on MLflow's basic-auth app (users in ``basic_auth.db``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from imdb_sentiment.cli import error_line
from imdb_sentiment.errors import UserError
from imdb_sentiment.files import write_secret
from imdb_sentiment.tracking.services import http_service

SERVER_START_TIMEOUT = 120  # seconds: MLflow creates its schema on a fresh database
DATABASE = "mlflow"
TUNING_DATABASE = "optuna"  # Optuna's RDB storage for studies that workers share
DB_USER = "mlflow"
ADMIN_PASSWORD_MIN = 12  # MLflow's basic-auth app refuses shorter passwords
POSTGRES_PORT = 55432  # the server's own cluster; away from a system PostgreSQL's 5432


class RunningServer(NamedTuple):
    url: str
    process: subprocess.Popen
    # The Optuna storage URL on the server's own cluster (None with --backend-store-uri).
    tuning_storage: str | None = None


class ServerSetupError(UserError, RuntimeError):
    """PostgreSQL or the tracking server cannot be set up; the message says how to fix it."""


def postgres_bin(tool: str) -> str:
    """Path of a PostgreSQL server program; Debian keeps them off PATH, in its versioned dir."""
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=lambda p: int(p.parts[-3])
    )
    if not candidates:
        raise ServerSetupError(
            f"PostgreSQL's {tool} is not installed; install the server "
            "(Debian/Ubuntu: apt-get install postgresql) or pass --backend-store-uri"
        )
    return str(candidates[-1])


class PostgresCluster:
    """A PostgreSQL cluster in one folder, listening on 127.0.0.1 only, password-protected.

    PostgreSQL refuses to run as root; started by root, it runs as the ``postgres`` user
    (``nobody`` if there is none), which then owns the folder.
    """

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder.resolve()
        self.port = port
        self.data = self.folder / "data"
        self.password_file = self.folder / "postgres-password"

    @property
    def uri(self) -> str:
        return self.uri_of(DATABASE)

    def uri_of(self, database: str) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+psycopg://{DB_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the cluster on first use, start it, and make sure the database exists."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            self._init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={shlex.quote(str(self.data))}"
        )
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._create_database()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _init(self) -> None:
        write_secret(self.password_file, secrets.token_urlsafe(24) + "\n")
        self.data.mkdir(mode=0o700, exist_ok=True)
        owner = self._server_user()
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            os.chown(self.data, owner.pw_uid, owner.pw_gid)
        # initdb reads the password from a file the server user can read; it is removed at once.
        pwfile = self.folder / ".initdb-password"
        write_secret(pwfile, self.password_file.read_text())
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                postgres_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            )
        except ServerSetupError:
            shutil.rmtree(self.data, ignore_errors=True)  # so the next start initialises afresh
            raise
        finally:
            pwfile.unlink(missing_ok=True)

    def _create_database(self) -> None:
        psycopg = _team_extra("psycopg")

        password = self.password_file.read_text().strip()
        dsn = f"host=127.0.0.1 port={self.port} user={DB_USER} password={password} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            for database in (DATABASE, TUNING_DATABASE):
                exists = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if not exists:
                    connection.execute(f"CREATE DATABASE {database}")

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise ServerSetupError("running as root and there is no `postgres` or `nobody` user")

    def _run(self, *command: str) -> None:
        program = Path(command[0]).name
        owner = self._server_user()
        if owner is not None:
            command = ("runuser", "-u", owner.pw_name, "--", *command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            hint = (
                f"\nrunning as root, PostgreSQL runs as `{owner.pw_name}`, which must be able "
                f"to reach {self.folder}: pick a --data-dir outside private folders like /root"
                if owner is not None and "Permission denied" in result.stderr
                else ""
            )
            raise ServerSetupError(
                f"{program} failed in {self.folder}: "
                f"{(result.stderr or result.stdout).strip()}{hint}\n{tail}".strip()
            )


@contextmanager
def postgres_cluster(folder: Path, port: int) -> Iterator[PostgresCluster]:
    """A started cluster; stopped when the block ends, whatever happens in it."""
    cluster = PostgresCluster(folder, port)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def tracking_server_command(
    backend_store_uri: str,
    artifacts_destination: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    basic_auth: bool = False,
    workers: int | None = None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--host",
        host,
        "--port",
        str(port),
    ]
    if workers:
        command += ["--workers", str(workers)]
    if basic_auth:
        _team_extra("flask_wtf")  # what mlflow[auth] adds for the basic-auth app
        command += ["--app-name", "basic-auth"]
    return command


def _team_extra(module: str) -> Any:
    """Import a module of the `team` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ServerSetupError(
            f"the tracking server needs {module}, from the project's `team` extra: "
            "pip install -e '.[team]'"
        ) from None


def basic_auth_env(data_dir: Path) -> dict[str, str]:
    """The environment the basic-auth app needs: its config, a stable secret key, the admin.

    The session secret is made once and kept in ``data_dir`` (unless
    MLFLOW_FLASK_SERVER_SECRET_KEY is set), so restarts do not log everyone out.
    """
    env: dict[str, str] = {}
    config = data_dir / "basic_auth.ini"
    if not config.exists():
        with warnings.catch_warnings():  # a Starlette deprecation notice on import, not ours
            warnings.simplefilter("ignore")
            import mlflow.server.auth as auth_app
        text = (Path(auth_app.__file__).parent / "basic_auth.ini").read_text()
        text = text.replace(
            "database_uri = sqlite:///basic_auth.db",
            f"database_uri = sqlite:///{data_dir / 'basic_auth.db'}",
        )
        config.write_text(text)
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    if not os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        key_file = data_dir / "flask-secret-key"
        if not key_file.exists():
            write_secret(key_file, secrets.token_hex(32))
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = key_file.read_text().strip()
    password = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    if not (data_dir / "basic_auth.db").exists() and len(password) < ADMIN_PASSWORD_MIN:
        raise ServerSetupError(
            f"--basic-auth: set MLFLOW_AUTH_ADMIN_PASSWORD (at least {ADMIN_PASSWORD_MIN} "
            "characters) for the first start; it becomes the password of the `admin` user "
            "(MLflow has no default password)"
        )
    return env


@contextmanager
def tracking_server(
    data_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    backend_store_uri: str | None = None,
    postgres_port: int | None = None,
    basic_auth: bool = False,
    workers: int | None = None,
) -> Iterator[RunningServer]:
    """The team tracking server (and its own PostgreSQL unless ``backend_store_uri``), once it
    answers; everything is stopped when the block ends."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if basic_auth:
        env |= basic_auth_env(data_dir)
    with _backend(data_dir, backend_store_uri, postgres_port or POSTGRES_PORT) as cluster:
        uri = backend_store_uri or cluster.uri
        command = tracking_server_command(
            uri, str(data_dir / "artifacts"), host, port, basic_auth, workers
        )
        url = f"http://{host}:{port}"
        log_path = data_dir / "tracking-server.log"
        with http_service(
            command, url, "/health", log_path, SERVER_START_TIMEOUT, env=env
        ) as process:
            yield RunningServer(
                url, process, None if cluster is None else cluster.uri_of(TUNING_DATABASE)
            )


@contextmanager
def _backend(
    data_dir: Path, uri: str | None, postgres_port: int
) -> Iterator[PostgresCluster | None]:
    if uri:
        yield None
        return
    with postgres_cluster(data_dir / "postgres", postgres_port) as cluster:
        yield cluster


def run(args: argparse.Namespace) -> int:
    """`imdb-sentiment tracking-server`: run until Ctrl-C, then stop the database too."""
    # A service manager stops with SIGTERM: unwind the same way, so PostgreSQL stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with tracking_server(
            Path(args.data_dir),
            args.port,
            args.host,
            args.backend_store_uri,
            args.postgres_port,
            args.basic_auth,
            args.workers,
        ) as server:
            url = server.url
            print(f"MLflow tracking server: {url} (UI and API; logs in {args.data_dir})")
            print(f"point the pipeline at it:  MLFLOW_TRACKING_URI={url} dvc repro", flush=True)
            if server.tuning_storage:
                password = Path(args.data_dir) / "postgres" / "postgres-password"
                shown = server.tuning_storage.replace(
                    password.read_text().strip(), f"$(cat {password.resolve()})"
                )
                print(f"share a tuning search:     imdb-sentiment tune NAME --storage {shown}")
            if args.basic_auth:
                print("clients pass MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
            while server.process.poll() is None:
                time.sleep(1)
            raise RuntimeError(  # PostgreSQL is stopped on the way out
                f"mlflow server exited with code {server.process.returncode}; see "
                f"{Path(args.data_dir) / 'tracking-server.log'}"
            )
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except (ServerSetupError, RuntimeError, TimeoutError) as exc:
        sys.exit(error_line(exc))
    return 0


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `imdb-sentiment tracking-server`, added to its subcommand's parser."""
    parser.description = __doc__.split("\n")[0]
    parser.add_argument(
        "--data-dir",
        default="mlflow-server",
        help="the server's folder: PostgreSQL cluster, artifacts, logs (default ./mlflow-server)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="HTTP port (default 5000)")
    parser.add_argument(
        "--postgres-port",
        type=int,
        default=POSTGRES_PORT,
        help=f"port of the server's own PostgreSQL (default {POSTGRES_PORT})",
    )
    parser.add_argument(
        "--backend-store-uri",
        help="an existing database, e.g. postgresql://user:password@db-host/mlflow",
    )
    parser.add_argument(
        "--basic-auth",
        action="store_true",
        help="MLflow's basic-auth app; the first start needs MLFLOW_AUTH_ADMIN_PASSWORD",
    )
    parser.add_argument("--workers", type=int, help="server worker processes (MLflow's default)")
    return parser
