"""A real PostgreSQL with pgvector for the store tests, started by the tests themselves.

In order: ``$EMBEDTUNE_TEST_PG_URL`` (a server someone runs), a private server from the ``pgserver``
package (it ships PostgreSQL and pgvector), or a system PostgreSQL whose share folder has pgvector. The
tests skip, saying why, only when none of these can start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _system_postgres(folder: Path) -> tuple[str | None, str]:
    """Start the system PostgreSQL (initdb + pg_ctl) in ``folder`` when it has pgvector; (url, why not)."""
    bindirs = [Path(p).parent for p in (shutil.which("pg_ctl"), shutil.which("initdb")) if p]
    bindirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in bindirs:
        initdb, pg_ctl = bindir / "initdb", bindir / "pg_ctl"
        if not (initdb.is_file() and pg_ctl.is_file()):
            continue
        pg_config = bindir / "pg_config"
        share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True).stdout.strip() if pg_config.is_file() else ""
        if not share or not (Path(share) / "extension" / "vector.control").is_file():
            return None, f"the system PostgreSQL in {bindir} has no pgvector (apt-get install postgresql-NN-pgvector)"
        if os.geteuid() == 0:
            return None, "the system PostgreSQL refuses to run as root"
        data = folder / "data"
        subprocess.run([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
        subprocess.run([str(pg_ctl), "-D", str(data), "-w", "-o", f"-k {folder} -c listen_addresses=''", "start"],
                       check=True, capture_output=True)
        return f"postgresql://postgres@/postgres?host={folder}", ""
    return None, "no system PostgreSQL (pg_ctl, initdb) found"


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    """A connection URL of a PostgreSQL server with the vector extension available."""
    if os.environ.get("EMBEDTUNE_TEST_PG_URL"):
        yield os.environ["EMBEDTUNE_TEST_PG_URL"]
        return
    reasons = []
    try:
        import pgserver
    except ImportError:
        reasons.append("pgserver is not installed (pip install 'embedtune[pg]')")
    else:
        try:
            # Not under pytest's tmp folder: as root, pgserver runs the server as its own user, who cannot
            # enter pytest's private (0700) folder.
            server = pgserver.get_server(tempfile.mkdtemp(prefix="embedtune-pg-"), cleanup_mode="delete")
            server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        except Exception as exc:  # pgserver raises several kinds of errors when it cannot start
            reasons.append(f"pgserver could not start ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})")
        else:
            yield server.get_uri()
            server.cleanup()
            return
    folder = tmp_path_factory.mktemp("syspg")
    url, why = _system_postgres(folder)
    if url is None:
        pytest.skip("no PostgreSQL with pgvector could start: " + "; ".join(reasons + [why]))
    yield url
    subprocess.run([shutil.which("pg_ctl") or "pg_ctl", "-D", str(folder / "data"), "-m", "fast", "stop"], capture_output=True)
