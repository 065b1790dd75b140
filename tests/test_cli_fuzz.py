"""Hostile arguments at every `outpost` command (issue 7, item 7).

Every command of the typer app is found by walking its click groups, so a new command is fuzzed without
touching this file. Hypothesis builds argv from the command's own parameters and a pool of hostile values
(random text, control characters, 1 MB strings, SQL fragments, confusables and bidi marks, impossible
dates, negative and huge numbers, empty strings, undecodable bytes, option names in the wrong places),
mixed with real ids and names so that the deeper code runs too. Each run must:

- exit 0, 2, 3 or 4 — never 1 (internal error) or anything else;
- never print a traceback, and print at most one line on stderr when it fails;
- on exit 2, 3 or 4, leave every row of the database as it was (the one exception, by R-3.3, is the
  compliance incident recorded when a director records the execution of an unapproved matter).

The CLI runs in-process (`outpost.cli.run`) against a SQLite file built once per module with the example
organisation and a few cases of several processes; before each example the database is restored from a
pristine copy. It takes the system clock, so the set-up uses the same time. Its streams are set up as
Python sets them up under a UTF-8 locale (stdout strict, stderr backslashreplace), and no SMTP server is
configured, so `mail deliver` writes .eml files into a temporary outbox folder.

Beside the generated examples, `SEEDS` holds fixed ones: some of each kind of hostile input, and every
failure the fuzzing found, so that a test fails for it on every run until the product is fixed.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outpost.app import App
from outpost.cli import app as cli_app
from outpost.cli import run
from tests.conftest import NOTICE_2027, ORG_FILE, dump
from workflow import registry
from workflow.clock import FixedClock
from workflow.ports import CaseFilter
from workflow.settings import load_settings
from workflow.timeutil import local_date

# `daemon` and `web` are left out: they run until SIGTERM/SIGINT (tests/test_daemon.py and
# tests/test_kill9.py drive the daemon as a real process; tests/web/test_browser.py runs the web's server).
SKIPPED = {("daemon",), ("web",)}
DOCUMENTED = {  # PRODUCT.md "Command line"
    ("init",), ("org", "load"), ("org", "show"), ("case", "open"), ("case", "list"), ("case", "show"),
    ("case", "triggers"), ("case", "advance"), ("info", "add"), ("info", "accept"), ("invest", "add"),
    ("report", "compliance"), ("tick",), ("daemon",), ("status",), ("mail", "list"), ("mail", "deliver"),
    ("mail", "retry"), ("mail", "preview"), ("diagram",), ("calendar", "export"),
    ("calendar", "holidays", "load"), ("calendar", "holidays", "show"), ("audit", "verify"), ("web",),
}
ALLOWED_EXIT = {0, 2, 3, 4}
MB = 1024 * 1024


# -- the commands, from the typer app ------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    opts: tuple[str, ...]  # option names, or the argument's name
    option: bool
    flag: bool
    multiple: bool
    required: bool


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Param, ...]

    def __str__(self) -> str:
        return " ".join(self.path)


def all_commands() -> list[Command]:
    """Every leaf command of the `outpost` app, found by walking its groups."""
    found: list[Command] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "list_commands"):  # a group: its own commands and, at the root, the processes' own
            ctx = typer.Context(cmd)
            for name in sorted(cmd.list_commands(ctx)):
                walk(cmd.get_command(ctx, name), (*path, name))
            return
        params = tuple(
            Param(opts=tuple(p.opts), option=p.param_type_name == "option", flag=bool(getattr(p, "is_flag", False)),
                  multiple=bool(getattr(p, "multiple", False)), required=bool(p.required))
            for p in cmd.params
        )
        found.append(Command(path, params))

    walk(typer.main.get_command(cli_app), ())
    return found


COMMANDS = all_commands()
FUZZED = [c for c in COMMANDS if c.path not in SKIPPED]
PROCESS_OPTIONS = sorted({o.flag for name in registry.names() for o in registry.latest(name).options})
# the processes' own options of `case open|advance` (declared in their folders) are fuzzed too
ALL_OPTIONS = sorted({o for c in COMMANDS for p in c.params if p.option for o in p.opts}
                     | {o.flag for name in registry.names() for o in registry.latest(name).options}
                     | {"--config", "--database-url", "--help"})


# -- the database every example starts from ------------------------------------------------------------
@dataclass
class World:
    folder: Path
    pristine: Path
    work: Path
    outbox: Path
    rows: list[Any] = field(default_factory=list)  # dump() of the pristine database
    pools: dict[str, list[str]] = field(default_factory=dict)  # real values for a parameter, by its name
    valid: list[str] = field(default_factory=list)  # every real value
    cases: dict[str, tuple[str, str]] = field(default_factory=dict)  # case id → (process, state)
    bases: dict[tuple[str, ...], list[list[str]]] = field(default_factory=dict)  # argv that succeed, by command

    def pool(self, key: str, drawn: dict[str, str]) -> list[str]:
        """Real values for `key`, given the arguments drawn so far: a trigger of the chosen case's process."""
        if key == "trigger" and drawn.get("case") in self.cases:
            return registry.latest(self.cases[drawn["case"]][0]).triggers
        return self.pools.get(key, TEXTS)

    def relevant(self, command: Command, drawn: dict[str, str]) -> set[str] | None:
        """The options that apply to what was drawn (None: all of them), so that most examples get past
        "option does not apply" to the checks behind it."""
        if command.path == ("case", "open") and drawn.get("process") in registry.names():
            return COMMON | {f"--{o.replace('_', '-')}" for o in registry.latest(drawn["process"]).open_options}
        if command.path == ("case", "advance") and drawn.get("case") in self.cases:
            process, state = self.cases[drawn["case"]]
            spec = registry.latest(process).transition(drawn.get("trigger", ""), state)
            return COMMON | {f"--{o.replace('_', '-')}" for o in (spec.options if spec else ())}
        return None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.work}"

    def restore(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{self.work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.work)



@cache
def world() -> World:
    """Build the database once per module: example organisation, cases of several processes, mail, items."""
    from machines.info_quota import add_item
    from machines.investment import add_investment
    from notifications.delivery import outbox_for

    folder = Path(tempfile.mkdtemp(prefix="outpost-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    build = folder / "build.db"
    w = World(folder=folder, pristine=folder / "pristine.db", work=folder / "outpost.db",
              outbox=folder / "outbox")
    now = datetime.now(UTC).replace(microsecond=0)  # the CLI uses the system clock
    today = local_date(now)
    settings_ = load_settings({"database_url": f"sqlite:///{build}", "outbox_dir": w.outbox}, env={}, cwd=folder)
    application = App(settings_, clock=FixedClock(now))
    try:
        application.init()
        application.load_org(ORG_FILE)
        svc = application.service

        def day(n: int) -> str:
            return (today + timedelta(days=n)).isoformat()

        cases = [
            svc.open("leave", "zhao", {"start": day(30), "end": day(31), "reason": "探亲"}).id,
            svc.open("leave", "wang", {"start": day(40), "end": day(49)}).id,
            svc.open("leave", "huang", {"start": day(50), "end": day(51)}).id,
            svc.open("matter", "wang", {"category": "asset_purchase", "kind": "request", "title": "购置办公用房",
                                        "event_date": day(60), "amount": "1200000"}).id,
            svc.open("matter", "zhao", {"category": "other", "kind": "report", "title": "情况报告"}).id,
            svc.open("matter", "huang", {"category": "other", "kind": "request", "title": "请示"}).id,
            svc.open("departure_audit", "wu", {"subject": "li"}).id,
        ]
        svc.advance(cases[2], "approve", "chen")
        svc.advance(cases[5], "approve", "liu")
        for trigger, actor in (("issue_notice", "zhou"), ("submit_materials", "wang"), ("start_fieldwork", "zhou")):
            svc.advance(cases[6], trigger, actor)
        svc.advance(cases[6], "add_finding", "zhou", options={"finding": "账目不清"})
        application.ticker.tick(now)  # the periodic cases due today
        application.deliver_mail(now)  # some mail sent (written to the outbox folder) ...
        cases.append(svc.open("leave", "li", {"start": day(70), "end": day(71)}).id)  # ... and some queued
        info = add_item(svc, "zhao", "本地经济动态")
        invest = add_investment(svc, "huang", "1000万", "domestic", "项目", None, ["huang=500万"])
        with application.store.transaction(write=False) as tx:
            org = tx.org()
        assert cases[0] == 1 and cases[6] == 7  # SEEDS name them
        listed = application.store.list_cases(CaseFilter())
        all_cases = [c.id for c in listed]
        w.cases = {str(c.id): (c.process, c.state) for c in listed}
        mails = [m.id for m in outbox_for(application).mails()]
    finally:
        application.close()
    src, dst = sqlite3.connect(build), sqlite3.connect(w.pristine)
    with contextlib.closing(src), contextlib.closing(dst):
        src.backup(dst)  # a consistent single-file copy, whatever is left in the WAL
    w.restore()
    w.rows = dump(f"sqlite:///{w.pristine}")

    files = folder / "files"
    files.mkdir()
    (files / "holidays2027.toml").write_text(NOTICE_2027, encoding="utf-8")
    (files / "garbage.toml").write_bytes(bytes(range(256)) * 4)
    (files / "latin1.toml").write_bytes("name = 'caf\xe9'".encode("latin-1"))
    (files / "empty.toml").write_text("", encoding="utf-8")
    (files / "huge.toml").write_text("# " + "x" * (6 * MB), encoding="utf-8")
    (files / "sub").mkdir()
    definitions = [registry.latest(n) for n in registry.names()]
    case_ids = [*map(str, all_cases), str(max(all_cases) + 1)]
    people = sorted(org.people)
    good_dates = [today.isoformat(), day(1), day(3), day(45), day(-1), day(-400)]
    paths = [str(ORG_FILE), *(str(files / n) for n in ("holidays2027.toml", "garbage.toml", "latin1.toml",
                                                        "empty.toml", "huge.toml", "sub", "missing.toml"))]
    w.pools = {
        "case": case_ids, "--case": case_ids, "--extends": case_ids,
        "trigger": sorted({t for d in definitions for t in d.triggers}),
        "process": registry.names(), "--process": registry.names(),
        "--state": sorted({s for d in definitions for s in d.states}),
        "--as": people, "--subject": people, "--person": people, "--office": sorted(org.offices),
        "--start": good_dates, "--end": good_dates, "--date": good_dates, "--event-date": good_dates,
        "--month": [today.strftime("%Y-%m"), (today + timedelta(days=40)).strftime("%Y-%m")],
        "--at": [now.isoformat(), day(1), f"{day(3)}T09:00", f"{day(30)}T09:00:00+08:00"],
        "--category": ["asset_purchase", "asset_disposal", "vip_reception", "client_visit", "asset_dispute",
                       "other", "business", "guarantee", "travel", "office", "reception", "vehicle"],
        "--kind": ["report", "request"], "--source": ["domestic", "foreign"],
        "--vouchers": ["1", "3", "12"], "--reference": ["BJ-2027-001"], "--reason": ["年中追加", "出差"],
        "--amount": ["1200000", "30,000,000", "3000万", "0.3亿", "1.5万", "99.99"],
        "--credit": ["huang=100", "chen=30000000", "huang=1万"], "--score": ["0", "85", "100"],
        "--finding": ["1", "2", "账目不清"], "--format": ["mermaid", "dot"], "--lang": ["zh", "en"],
        "year": [str(today.year), str(today.year + 1)], "--year": [str(today.year), str(today.year - 1)],
        "item": [str(info.id), str(invest.id)], "mail": [*map(str, mails)], "file": paths,
    }
    w.valid = sorted({v for pool in w.pools.values() for v in pool})
    later, past = day(45), day(-1)
    w.bases = {  # commands that succeed as they are (checked below), for `mutated` to spoil one value of
        ("case", "open"): [
            ["leave", "--as", "zhao", "--start", later, "--end", day(46), "--reason", "探亲", "--json"],
            ["matter", "--as", "wang", "--category", "asset_purchase", "--kind", "request", "--title", "购置",
             "--event-date", later, "--amount", "100", "--comment", "请审批"],
            ["matter", "--as", "zhao", "--category", "client_visit", "--kind", "report", "--title", "考察",
             "--event-date", later],
            ["departure_audit", "--as", "wu", "--subject", "chen", "--comment", "离任"],
            ["off_site", "--as", "wang", "--subject", "zhao", "--start", day(60), "--end", day(62), "--reason", "出差",
             "--json"],
            ["reimbursement", "--as", "zhao", "--amount", "1,200", "--category", "travel", "--vouchers", "3",
             "--title", "差旅费", "--json"],
        ],
        ("budget", "set"): [["--as", "qian", "--office", "BJ", "--year", str(today.year), "--amount", "50万",
                             "--category", "travel", "--json"]],
        ("budget", "show"): [["--year", str(today.year), "--office", "BJ", "--json"]],
        ("case", "advance"): [
            [str(cases[0]), "approve", "--as", "wang", "--comment", "同意", "--json"],  # no --override: nothing to pass
            [str(cases[0]), "withdraw", "--as", "zhao", "--comment", "不去了"],
            [str(cases[5]), "execute", "--as", "chen", "--date", past, "--comment", "已执行"],
            [str(cases[6]), "add_finding", "--as", "zhou", "--finding", "账实不符"],
            [str(cases[6]), "record_handover", "--as", "zhou", "--assets", "公章", "--date", past],
            [str(cases[4]), "acknowledge", "--as", "sun", "--comment", "收悉"],
        ],
        ("case", "triggers"): [[str(cases[0]), "--as", "wang", "--json"]],
        ("case", "list"): [["--process", "leave", "--office", "BJ", "--state", "pending", "--json"]],
        ("info", "add"): [["--as", "zhao", "--title", "信息", "--month", today.strftime("%Y-%m"), "--json"]],
        ("info", "accept"): [[str(info.id), "--as", "sun", "--json"]],
        ("invest", "add"): [["--as", "huang", "--amount", "100万", "--source", "domestic", "--project", "项目",
                             "--date", today.isoformat(), "--credit", "huang=1万", "--json"]],
        ("report", "compliance"): [["--year", str(today.year), "--office", "BJ", "--json"]],
        ("tick",): [["--at", f"{day(3)}T09:00", "--json"]],
        ("calendar", "export"): [["--office", "BJ", "--person", "wang"]],
    }
    return w


# -- hostile values ------------------------------------------------------------------------------------
HOSTILE = [
    "", " ", "\t", "\n", "-", "--", "=", "-1", "0", "-0", "00", "+1", "1.5", "1e309", "NaN", "inf", "-inf",
    "0x10", "1_000", "١٢", "２０２７", str(2**31), str(2**31 - 1), str(2**63), str(2**64), str(-(2**64)),
    str(10**30), "9" * 5000, "-30000000", "-3000万", "0.001", "1,2,3", "3000万亿", "1e10",
    # SQL and paths
    "'; DROP TABLE cases; --", "' OR '1'='1", "1; DELETE FROM history", "\" OR 1=1 --", "%", "_", "*",
    "../../../../etc/passwd", "/dev/null", "/", ".", "~", "$(reboot)", "`id`", "{{7*7}}", "<script>x</script>",
    # confusables, zero-width and bidi marks
    "wаng", "ＷＡＮＧ", "wang\u200b", "\u202ewang", "\u200fzhao\u200e", "\u2066BJ\u2069", "ΒJ", "leаve",
    "\ufeffleave", "approve\u0301", "\u00a0", "\u3000",
    # bytes that are not UTF-8 reach Python's argv as surrogate escapes (PEP 383)
    "\udcff", "zhao\udce9", "\udcc3\udca9",
    # impossible and out-of-range dates and instants
    "2027-02-30", "2026-02-29", "0000-01-01", "0001-01-01", "9999-12-31", "2027-13-01", "2027-00-10", "2027-1-1",
    "20270101", "1969-12-31", "2200-01-01", "2027-02-29T25:00", "2026-11-28T00:00+99:00",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "2199-12-31T23:59:59.999999-12:00",
    "1970-01-01T00:00:00+14:00", "2027-06-25T23:59:59", "2027-13", "0000-00", "9999-12", "2027-Q5",
    # control characters
    "\x01", "\x1b[31mred\x1b[0m", "a\rb", "a\x0bb", "\x7f", "\x85", "a\u2028b", "\x1c\x1d\x1e",
]
BIG = ["x" * MB, "9" * MB, "é" * (MB // 2), "2027-01-01" + " " * MB, "\u202e" * MB, "'; DROP TABLE cases; --" * 40000]
CONTROL = st.characters(min_codepoint=1, max_codepoint=0x1F) | st.sampled_from(["\x7f", "\x85", "\u2028", "\u2029"])
# argv bytes that are not UTF-8 reach Python as lone surrogates U+DC80..U+DCFF (PEP 383 surrogateescape)
UNDECODABLE = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF) | st.sampled_from("ab é中")


def no_nul(text: str) -> str:
    # execve cannot pass NUL in an argument, so no real `outpost` ever sees one
    return text.replace("\x00", "")


def values(w: World) -> st.SearchStrategy[str]:
    dates = st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32))
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(w.valid),  # a real value in the wrong place
        st.text(max_size=30).map(no_nul),
        st.text(CONTROL, min_size=1, max_size=8),
        st.text(UNDECODABLE, min_size=1, max_size=6),
        st.integers(-(2**70), 2**70).map(str),
        dates,
        st.sampled_from(BIG),
    )


COMMON = {"--as", "--comment", "--override", "--json"}
TEXTS = ["探亲", "情况报告", "next year's plan", "a", "line one\nline two"]


def argv_for(command: Command, w: World) -> st.SearchStrategy[list[str]]:
    """Half built from the command's parameters, half a working command line with a value or two spoiled."""
    built = built_argv(command, w)
    if command.path not in w.bases:
        return built
    return st.one_of(built, mutated(command, w))


@st.composite
def mutated(draw: st.DrawFn, command: Command, w: World) -> list[str]:
    """A command line that works (`World.bases`) with one or two of its values replaced by hostile ones:
    this reaches the code behind the first checks, where an unexpected value does the most harm."""
    tokens = list(draw(st.sampled_from(w.bases[command.path])))
    slots = [i for i, t in enumerate(tokens) if not t.startswith("--")]
    for i in draw(st.lists(st.sampled_from(slots), min_size=1, max_size=2, unique=True)):
        tokens[i] = draw(values(w))
    if draw(st.integers(0, 4)) == 0:  # an option name in the wrong place
        tokens.insert(draw(st.integers(0, len(tokens))), draw(st.sampled_from(ALL_OPTIONS)))
    return [*command.path, *tokens]


@st.composite
def built_argv(draw: st.DrawFn, command: Command, w: World) -> list[str]:
    """The command's path, then its arguments in order with its options (and some noise) in between.

    Most values are real (an existing case, a person, a valid date) so that the command gets past its
    first check; the share of hostile values is drawn per example (none, 10, 20 or 40 %).
    """
    hostile = values(w)
    level = draw(st.sampled_from([0, 1, 2, 4]))  # out of 10: how often a value is hostile in this example
    drawn: dict[str, str] = {}

    def value(key: str) -> str:
        bad = draw(st.integers(0, 9)) < level
        drawn[key] = draw(hostile) if bad else draw(st.sampled_from(w.pool(key, drawn)))
        return drawn[key]

    tokens: list[str] = []
    for p in command.params:  # arguments first: what applies may depend on them
        if not p.option and draw(st.integers(0, 9)) < 9:
            tokens.append(value(p.opts[0]))
    relevant = w.relevant(command, drawn)
    groups: list[list[str]] = []
    for p in command.params:
        if not p.option:
            continue
        if p.required:
            odds = 9
        elif relevant is None or p.opts[0] in COMMON:
            odds = 3
        else:
            odds = 7 if p.opts[0] in relevant else 1
        if draw(st.integers(0, 9)) >= odds:
            continue
        for _ in range(draw(st.integers(1, 3)) if p.multiple else 1):
            name = draw(st.sampled_from(p.opts))
            if p.flag:
                groups.append([name])
            elif draw(st.integers(0, 4)) == 0:
                groups.append([f"{name}={value(p.opts[0])}"])
            else:
                groups.append([name, value(p.opts[0])])
    noise = st.sampled_from(ALL_OPTIONS) | hostile
    groups += [[draw(noise)] for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2])))]
    placed = [[t] for t in tokens]
    for group in groups:  # options anywhere between and around the arguments, never inside another option
        placed.insert(draw(st.integers(0, len(placed))), group)
    return [*command.path, *(t for group in placed for t in group)]


# -- running the CLI ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    rc: int
    out: str
    err: str


def invoke(argv: list[str]) -> Outcome:
    """`outpost ARGV` in-process, its streams set up as Python sets them up under a UTF-8 locale:
    stdout strict, stderr backslashreplace."""
    out_buf, err_buf = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_buf, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="backslashreplace", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(argv))
    return Outcome(rc, out_buf.getvalue().decode("utf-8", "replace"), err_buf.getvalue().decode("utf-8", "replace"))


@contextlib.contextmanager
def cli_environment(w: World) -> Iterator[None]:
    """OUTPOST_DATABASE_URL at the fuzz database, mail to a temporary outbox (no SMTP), an empty cwd."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for key in [k for k in os.environ if k.startswith("OUTPOST_")]:
        del os.environ[key]
    os.environ["OUTPOST_DATABASE_URL"] = w.url
    os.environ["OUTPOST_OUTBOX_DIR"] = str(w.outbox)
    os.chdir(w.folder)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def compliance_incident_only(before: list[Any], after: list[Any]) -> bool:
    """R-3.3: an execution recorded before approval is refused (exit 3) *and* logged as an incident."""
    old, new = dict(before), dict(after)
    changed = {name for name in new if new[name] != old.get(name)}
    added = [row for row in new.get("history", []) if row not in old.get("history", [])]
    return changed <= {"cases", "history", "mail"} and len(added) == 1 and "'compliance_incident'" in added[0]


def check(argv: list[str], w: World) -> None:
    w.restore()
    got = invoke(argv)
    shown = f"outpost {argv!r:.600} → exit {got.rc}; stderr: {got.err[:600]!r}"
    assert got.rc in ALLOWED_EXIT, shown
    assert "Traceback" not in got.err and "Traceback" not in got.out, shown
    if got.rc != 0:
        assert len(got.err.splitlines()) <= 1, shown
        after = dump(w.url)
        if after != w.rows:
            assert got.rc == 3 and "R-3.3" in got.err and compliance_incident_only(w.rows, after), \
                f"{shown}: the refused command wrote to the database"


# Fixed examples beside the generated ones: some of each kind of hostile input the issue names, and every
# failure the fuzzing found (kept here so that a test fails for it on every run until it is fixed).
# Case 1 is zhao's pending leave, case 7 the departure audit of li in fieldwork (see `world`).
SEEDS: dict[tuple[str, ...], list[list[str]]] = {
    ("case", "show"): [["case", "show", str(2**64)], ["case", "show", "1; DELETE FROM history"]],
    ("case", "list"): [["case", "list", "--office", "'; DROP TABLE cases; --", "--json"]],
    ("case", "open"): [
        ["case", "open", "leave", "--as", "zhao", "--start", "2027-02-30", "--end", "0000-01-01"],
        ["case", "open", "leave", "--as", "zhao", "--start", "9999-12-31", "--end", "9999-12-31"],
        ["case", "open", "matter", "--as", "wang", "--category", "other", "--kind", "report", "--title", "x" * MB],
        ["case", "open", "leave", "--as", "\u202ezhao", "--start", "2099-03-02", "--end", "2099-03-03"],
        # found: a comment with bytes that are not UTF-8 → exit 1 (UnicodeEncodeError in workflow/hashing.py)
        ["case", "open", "departure_audit", "--as", "wu", "--subject", "chen", "--comment", "\udcff"],
        # found: such a reason is stored, then printing the case on a UTF-8 stdout fails → exit 1 after the commit
        ["case", "open", "leave", "--as", "zhao", "--start", "2099-03-02", "--end", "2099-03-03", "--reason", "\udcff",
         "--json"],
    ],
    ("case", "advance"): [
        ["case", "advance", "1", "approve", "--as", "wang", "--comment", "\x1b[2J\x07"],
        ["case", "advance", "1", "--as", "approve", "wang"],
        # found: exit 1, as above (--comment, --override, --finding, --assets)
        ["case", "advance", "7", "add_finding", "--as", "zhou", "--finding", "\udcff"],
    ],
    ("invest", "add"): [
        ["invest", "add", "--as", "huang", "--amount", "-3000万", "--source", "domestic", "--project", "p"],
        ["invest", "add", "--as", "huang", "--amount", str(2**64), "--source", "foreign", "--project", "p"],
        # found: the project is stored, then printing it fails → exit 1 after the commit
        ["invest", "add", "--as", "huang", "--amount", "100", "--source", "domestic", "--project", "\udcff", "--json"],
    ],
    # found: exit 1, as above (--title)
    ("info", "add"): [["info", "add", "--as", "zhao", "--title", "\udcff"]],
    ("tick",): [
        ["tick", "--at", "9999-12-31T23:59:59-23:59"], ["tick", "--at", "0000-01-01"],
        # found: 2200-01-01 in Asia/Shanghai passes the year check; the tick opens some periodic cases, then
        # refuses the month 2200-01 → exit 2 with those cases written
        ["tick", "--at", "2199-12-31T23:59:59-12:00"],
    ],
    ("report", "compliance"): [["report", "compliance", "--year", str(-(2**64))]],
}


def budget(command: Command) -> int:
    """Examples per command: more for commands with more parameters (about 150 in all); `case open` and
    `case advance` also take the processes' own options."""
    extra = len(PROCESS_OPTIONS) if command.path in (("case", "open"), ("case", "advance")) else 0
    return 3 + len(command.params) + extra // 2


# -- tests -------------------------------------------------------------------------------------------
def test_every_documented_command_is_found_and_only_the_daemon_is_skipped() -> None:
    """The walk of the typer app finds every command PRODUCT.md lists; only `daemon` and `web` are left out."""
    found = {c.path for c in COMMANDS}
    assert found >= DOCUMENTED, sorted(DOCUMENTED - found)
    assert found >= SKIPPED
    assert sum(budget(c) for c in FUZZED) >= 140
    assert set(SEEDS) <= {c.path for c in FUZZED}


@pytest.mark.slow
@pytest.mark.parametrize("command", FUZZED, ids=str)
def test_hostile_arguments_exit_0_2_3_4_without_traceback_and_refusals_write_nothing(command: Command) -> None:
    """Generated hostile argv: exit 0/2/3/4, no traceback, one stderr line on error, database unchanged on 2/3/4."""
    w = world()

    @settings(max_examples=budget(command), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(argv=argv_for(command, w))
    def fuzz(argv: list[str]) -> None:
        check(argv, w)

    with cli_environment(w):
        fuzz()


def test_every_working_command_line_the_mutations_start_from_succeeds() -> None:
    """Each of World.bases exits 0 as it is, so a failure of its mutation is the hostile value's doing."""
    w = world()
    with cli_environment(w):
        for path, argvs in w.bases.items():
            for argv in argvs:
                w.restore()
                got = invoke([*path, *argv])
                assert got.rc == 0, f"{[*path, *argv]} → {got.rc}: {got.err}"


SEEDED = [pytest.param(argv, id=f"{' '.join(path)}-{i}") for path, argvs in SEEDS.items()
          for i, argv in enumerate(argvs)]


@pytest.mark.parametrize("argv", SEEDED)
def test_named_hostile_inputs_and_every_failure_found_exit_0_2_3_4_and_write_nothing_on_refusal(
        argv: list[str]) -> None:
    """The fixed examples of SEEDS hold the same promises as the generated ones."""
    w = world()
    with cli_environment(w):
        check(argv, w)
