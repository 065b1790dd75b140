"""cli_help_ms and cli_case_show_ms: whole-process wall time of the `outpost` command line.

Byte-code caches on, as installed. Three commands run in one interleaved loop, so that machine noise hits them alike:
`outpost --help`, `outpost case show N` (a SQLite database with the example organisation and a few
leave cases, one of them approved) and the yardstick `python -c "import sqlalchemy"`. Medians in ms,
and each command's ratio to the yardstick.

    python bench/cli_bench.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from daemon_bench import outpost_command  # noqa: E402


def setup(folder: Path, cases: int = 5) -> tuple[dict[str, str], int]:
    """A small database; returns the environment for the commands and the id of the case to show."""
    from datetime import datetime

    from outpost.app import App
    from workflow.clock import FixedClock
    from workflow.settings import load_settings
    from workflow.timeutil import LOCAL_TZ

    url = f"sqlite:///{folder / 'outpost.db'}"
    settings = load_settings({"database_url": url, "outbox_dir": folder / "outbox"}, env={}, cwd=folder)
    app = App(settings, clock=FixedClock(datetime(2027, 1, 4, 9, 0, tzinfo=LOCAL_TZ)))
    app.init()
    app.load_org(ROOT / "examples" / "org.toml")
    ids = []
    for i in range(cases):
        who = ("zhao", "huang")[i % 2]
        day = (date(2027, 3, 1) + timedelta(days=i)).isoformat()
        ids.append(app.service.open("leave", who, {"start": day, "end": day}).id)
    app.service.advance(ids[0], "approve", "wang")  # history, deadlines and mail of more than one step
    app.close()
    env = {**os.environ, "OUTPOST_DATABASE_URL": url, "OUTPOST_OUTBOX_DIR": str(folder / "outbox")}
    # As installed: byte-code caches are written (by the untimed warm-up run) and used, as pip's
    # install does; a shell with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile Outpost each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env, ids[0]


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    cpu = _cpu_children()
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return took, _cpu_children() - cpu


def measure(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env, case_id = setup(folder)
        outpost = outpost_command()
        commands = {
            "import_sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
            "cli_help": [*outpost, "--help"],
            "cli_case_show": [*outpost, "case", "show", str(case_id)],
        }
        for cmd in commands.values():  # warm the page cache and .pyc files; not counted
            _run(cmd, env, folder)
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(rounds):
            for name, cmd in commands.items():
                wall, cpu = _run(cmd, env, folder)
                times[name].append(wall * 1000)
                cpus[name].append(cpu * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpus.items()}
    base, cpu_base = med["import_sqlalchemy"], cpu_med["import_sqlalchemy"]
    return {"ms": med, "ratio": {k: v / base for k, v in med.items()}, "cpu_ms": cpu_med,
            "cpu_ratio": {k: v / cpu_base for k, v in cpu_med.items()}, "rounds": rounds, "runs": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    r = measure(args.rounds)
    for name in ("cli_help", "cli_case_show", "import_sqlalchemy"):
        print(f"{name}_ms {r['ms'][name]:.0f} ms (× {r['ratio'][name]:.2f} the import sqlalchemy process); "
              f"CPU {r['cpu_ms'][name]:.0f} ms (× {r['cpu_ratio'][name]:.2f})")


if __name__ == "__main__":
    main()
