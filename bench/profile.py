"""Where the time goes, for the figures of bench/run.py: a sampling profile aggregated per function.

    python bench/profile.py engine|spiff|tick|mail|pg [--n N] [--top 40] [--rate 250]

Runs the workload under py-spy (`pip install py-spy`; sampling, so deep Python call chains are not
inflated the way cProfile inflates them) and prints, for the samples inside the timed workload only,
each function's inclusive share (it or its callees on the stack) and self share (on top of the stack;
time in C code — sqlite3, json, ssl — shows as self time of the Python function that called it).
Without py-spy it falls back to cProfile (cumulative and internal time, with cProfile's overhead).

    python bench/profile.py cli   # python -X importtime of `outpost case show`, per top-level import
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

# For each target: the frame (function name as py-spy prints it) that encloses the timed work, and a
# regular expression a stack must match to count (the timed part, not the setup around it).
TARGETS: dict[str, tuple[str, str]] = {
    "engine": ("outpost_run", r"CaseService|SqlDeadlineQueue|SqlStore\.transaction"),
    "spiff": ("spiff_run", r"spiff_run"),
    "tick": ("timed_tick", r"Ticker\.tick"),
    "mail": (r"deliver_pass|render \(notifications", r"deliver_pass|render \(notifications"),
    "pg": ("_one_case", r"_one_case"),
}
SETUP = r"App\.init|App\.load_org|_find_and_load"


def workload(target: str, n: int) -> None:
    """The work itself (run inside the profiler)."""
    if target == "engine":
        import engine_tx

        with tempfile.TemporaryDirectory() as tmp:
            engine_tx.outpost_run(Path(tmp), n, 50)
    elif target == "spiff":
        import spiff_bench

        with tempfile.TemporaryDirectory() as tmp:
            spiff_bench.spiff_run(Path(tmp), n)
    elif target == "tick":
        import tick_bench

        with tempfile.TemporaryDirectory() as tmp:
            app = tick_bench.build(Path(tmp), 100_000, n)
            tick_bench.prime(app)
            tick_bench.timed_tick(app, n)
            app.close()
    elif target == "mail":
        import mail_bench

        with tempfile.TemporaryDirectory() as tmp:
            mail_bench.measure(Path(tmp), n)
    elif target == "pg":
        import uuid

        import engine_tx
        import pg_bench

        from outpost.app import App
        from workflow.clock import FixedClock

        reason = pg_bench.available()
        if reason:
            raise SystemExit(reason)
        schema = f"outpost_bench_prof_{uuid.uuid4().hex[:8]}"
        pg_bench._pg_exec(f"CREATE SCHEMA {schema}")
        try:
            url = f"{pg_bench.PG_URL}?options=-csearch_path%3D{schema}"
            with tempfile.TemporaryDirectory() as tmp:
                app = App(pg_bench._settings(url, Path(tmp)), clock=FixedClock(engine_tx.T0))
                app.init()
                app.load_org(engine_tx.org_file(Path(tmp), pg_bench.PEOPLE))
                app.close()
                clock = FixedClock(engine_tx.T0)
                app = App(pg_bench._settings(url, Path(tmp)), clock=clock)
                for k in range(n):
                    pg_bench._one_case(app, clock, "prof", *pg_bench._staff(0, 1, k), k)
                app.close()
        finally:
            pg_bench._pg_exec(f"DROP SCHEMA {schema} CASCADE")
    else:
        raise SystemExit(f"unknown target {target}")


def _short(frame: str) -> str:
    m = re.match(r"(.*?) \((.*?):(\d+)\)", frame)
    if not m:
        return frame
    fn, path, _line = m.groups()
    for prefix in (str(ROOT) + "/", "site-packages/"):
        if prefix in path:
            path = path.split(prefix, 1)[1]
    if "/lib/python3" in path:
        path = "py:" + path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return f"{fn} ({path})"


def aggregate(raw: Path, root: str, keep: str, top: int) -> str:
    incl: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        at = next((i for i, f in enumerate(frames) if re.search(root, f)), None)
        if at is None or not re.search(keep, stack) or re.search(SETUP, stack):
            continue
        names = [_short(f) for f in frames[at:]]
        total += int(count)
        for f in set(names):
            incl[f] += int(count)
        own[names[-1]] += int(count)
    if not total:
        return "no samples in the timed work"
    out = [f"{total} samples in the timed work", "-- inclusive"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    out += ["-- self"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    return "\n".join(out)


def importtime(top: int) -> str:
    import cli_bench

    with tempfile.TemporaryDirectory() as tmp:
        env, case_id = cli_bench.setup(Path(tmp))
        cmd = [sys.executable, "-c", "from outpost.cli import main; main()", "case", "show", str(case_id)]
        subprocess.run(cmd, env=env, cwd=tmp, capture_output=True)  # byte-code caches
        done = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], env=env, cwd=tmp,
                              capture_output=True, text=True)
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _self, cum, name = line.split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, int(cum), name.strip()))
    total = sum(c for d, c, _n in rows if d == 0)
    out = [f"imports of `outpost case show`: {total / 1000:.0f} ms under -X importtime"]
    for d, c, name in sorted((r for r in rows if r[0] <= 2), key=lambda r: -r[1])[:top]:
        out.append(f"{100 * c / total:5.1f}%  {c / 1000:7.1f} ms  {'  ' * d}{name}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=[*TARGETS, "cli"])
    parser.add_argument("--n", type=int, default=None, help="cases / messages / due deadlines")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (more: finer, slower)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.target == "cli":
        print(importtime(args.top))
        return
    n = args.n or {"engine": 400, "spiff": 200, "tick": 100, "mail": 300, "pg": 40}[args.target]
    if args.inner:
        workload(args.target, n)
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    root, keep = TARGETS[args.target]
    if os.path.exists(spy):
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "profile.raw"
            subprocess.run([spy, "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--", sys.executable,
                            __file__, args.target, "--n", str(n), "--inner"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(aggregate(raw, root, keep, args.top))
        return
    import cProfile
    import pstats

    prof: Any = cProfile.Profile()
    prof.runcall(workload, args.target, n)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
