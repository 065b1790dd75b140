"""Bad input through the real `outpost` CLI: exit 2, one line on stderr, no traceback, nothing written.

Refusals by a rule exit 3 and name the rule; an uninitialised database asks for `outpost init`; `init`
and `org load` are idempotent. Runs in-process through `outpost.cli.run` and, for a few cases, as real
processes of the console script. The CLI takes the system clock, so every leave date lies in year `Y`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, inspect, select

from outpost.cli import run
from tests.conftest import ORG_FILE, OUTPOST, cli_env, dump, point_cli_at

ORG_TEXT = ORG_FILE.read_text(encoding="utf-8")

# A leave is asked before it starts by the system clock, so the leaves lie far ahead of any
# day these tests run, in 2027's twin: not a leap year (Y-02-29 is impossible), the same weekdays, and no
# holiday data either (Monday–Friday, R-0.6), so every rule sees the calendar these dates were chosen on.
Y = 2083


def outpost_command() -> list[str]:
    """The installed console script beside this interpreter, else the same entry point through -c."""
    script = Path(sys.executable).with_name("outpost")
    if script.exists():
        return [str(script)]
    found = shutil.which("outpost")
    if found:
        return [found]
    return list(OUTPOST)


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Cli:
    """Runs `outpost ARGS` in-process against one database and captures its output."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        self.url = url
        self.capsys = capsys
        self.tmp_path = tmp_path

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        rc = run(list(args))
        captured = self.capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.rc == 0, f"outpost {' '.join(args)} → {result.rc}: {result.err}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").out)


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> Cli:
    """The CLI on an empty database named by OUTPOST_DATABASE_URL, run from an empty folder."""
    point_cli_at(monkeypatch, db_url, tmp_path)
    return Cli(db_url, capsys, tmp_path)


@dataclass
class Populated:
    cli: Cli
    staff_case: int  # zhao's leave, pending with the BJ director wang
    director_case: int  # wang's 10-day leave, pending with the supervising leader liu
    approved_case: int  # huang's leave, approved by the SZ director chen


@pytest.fixture
def populated(cli: Cli) -> Populated:
    """An initialised database with the example organisation and three leave cases."""
    cli.ok("init")
    cli.ok("org", "load", str(ORG_FILE))
    staff = cli.json("case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01", "--end", f"{Y}-03-02",
                     "--reason", "探亲")
    director = cli.json("case", "open", "leave", "--as", "wang", "--start", f"{Y}-04-01", "--end", f"{Y}-04-10")
    approved = cli.json("case", "open", "leave", "--as", "huang", "--start", f"{Y}-05-03", "--end", f"{Y}-05-04")
    cli.ok("case", "advance", str(approved["id"]), "approve", "--as", "chen")
    assert (staff["state"], director["state"]) == ("pending", "pending")
    return Populated(cli, staff["id"], director["id"], approved["id"])


class Unchanged:
    """Every row of every table (as `dump`) before and after each command, on one reflected engine.

    A change is reported once and not carried over to the next command.
    """

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.meta = MetaData()
        self.meta.reflect(self.engine)
        self.rows = self._dump()

    def _dump(self) -> list[Any]:
        out: list[Any] = []
        with self.engine.connect() as conn:
            out.append(("tables", sorted(inspect(conn).get_table_names())))
            for name in sorted(self.meta.tables):
                rows = conn.execute(select(self.meta.tables[name])).all()
                out.append((name, sorted(tuple(map(repr, r)) for r in rows)))
        return out

    def check(self) -> None:
        now = self._dump()
        changed, self.rows = now != self.rows, now
        assert not changed, "the command wrote to the database"

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def unchanged() -> Iterator[Callable[[str], Unchanged]]:
    made: list[Unchanged] = []

    def make(url: str) -> Unchanged:
        made.append(Unchanged(url))
        return made[-1]

    yield make
    for u in made:
        u.close()


def assert_user_error(result: Result, code: int, *fragments: str) -> str:
    """The exit code, exactly one line on stderr (naming the fragments), no traceback, nothing on stdout."""
    assert result.rc == code, f"exit {result.rc} (expected {code}); stderr: {result.err!r}"
    assert "Traceback" not in result.err
    assert "Traceback" not in result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {result.err!r}"
    line = lines[0]
    assert line.startswith("outpost: "), line
    assert "internal error" not in line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert result.out == "", f"stdout should be empty on an error, got {result.out!r}"
    return line


# -- bad input → exit 2 --------------------------------------------------------------------------------
# (id, argv with {staff}/{director}/{approved} case ids, fragment the one line must contain)
BAD_INPUT: list[tuple[str, list[str], str]] = [
    ("unknown-person-opens", ["case", "open", "leave", "--as", "nobody", "--start", f"{Y}-03-01",
                              "--end", f"{Y}-03-02"], "unknown person: nobody"),
    ("unknown-person-advances", ["case", "advance", "{director}", "approve", "--as", "nobody"],
     "unknown person: nobody"),
    ("unknown-person-triggers", ["case", "triggers", "{staff}", "--as", "nobody"], "unknown person"),
    ("unknown-case-show", ["case", "show", "999"], "unknown case: 999"),
    ("unknown-case-advance", ["case", "advance", "999", "approve", "--as", "liu"], "unknown case: 999"),
    ("unknown-case-triggers", ["case", "triggers", "999", "--as", "liu"], "unknown case: 999"),
    ("case-id-beyond-32-bits-show", ["case", "show", "3000000000"], "unknown case"),
    ("case-id-beyond-32-bits-advance", ["case", "advance", "3000000000", "approve", "--as", "liu"],
     "unknown case"),
    ("extends-beyond-32-bits", ["case", "open", "leave", "--as", "huang", "--start", f"{Y}-05-05",
                                "--end", f"{Y}-05-06", "--extends", "3000000000"], "3000000000"),
    ("non-numeric-case-show", ["case", "show", "abc"], "unknown case"),
    ("non-numeric-case-advance", ["case", "advance", "abc", "approve", "--as", "liu"], "unknown case"),
    ("fractional-case-id", ["case", "show", "1.5"], "unknown case"),
    ("zero-case-id", ["case", "show", "0"], "unknown case"),
    ("non-numeric-extends", ["case", "open", "leave", "--as", "huang", "--start", f"{Y}-05-05",
                             "--end", f"{Y}-05-06", "--extends", "abc"], "--extends"),
    ("unknown-extends", ["case", "open", "leave", "--as", "huang", "--start", f"{Y}-05-05",
                         "--end", f"{Y}-05-06", "--extends", "999"], "999"),
    ("malformed-start-no-padding", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-3-1",
                                    "--end", f"{Y}-03-02"], "--start"),
    ("malformed-start-word", ["case", "open", "leave", "--as", "zhao", "--start", "tomorrow",
                              "--end", f"{Y}-03-02"], "--start"),
    ("malformed-end-compact", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01",
                               "--end", f"{Y}0302"], "--end"),
    ("malformed-end-with-time", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01",
                                 "--end", f"{Y}-03-02T10:00"], "--end"),
    ("impossible-date-feb-30", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-02-30",
                                "--end", f"{Y}-03-02"], f"{Y}-02-30"),
    ("impossible-date-month-13", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01",
                                  "--end", f"{Y}-13-01"], f"{Y}-13-01"),
    ("impossible-date-feb-29-non-leap", ["case", "open", "leave", "--as", "wang", "--start", f"{Y}-02-29",
                                         "--end", f"{Y}-03-02"], f"{Y}-02-29"),
    ("end-before-start", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-10",
                          "--end", f"{Y}-03-01"], "before"),
    ("missing-end", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-10"], "--end"),
    ("missing-as", ["case", "advance", "{director}", "approve"], "--as"),
    ("unknown-process", ["case", "open", "frob", "--as", "wang"], "unknown process: frob"),
    ("unknown-process-case-differs", ["case", "open", "Leave", "--as", "wang", "--start", f"{Y}-03-01",
                                      "--end", f"{Y}-03-02"], "unknown process"),
    ("unknown-process-diagram", ["diagram", "frob"], "unknown process: frob"),
    ("unknown-trigger", ["case", "advance", "{director}", "frob", "--as", "liu"], "frob"),
    ("option-of-another-process", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01",
                                   "--end", f"{Y}-03-02", "--category", "other"], "--category"),
    ("option-the-trigger-does-not-take", ["case", "advance", "{director}", "approve", "--as", "liu",
                                          "--date", f"{Y}-03-01"], "--date"),
    ("blank-override-reason", ["case", "advance", "{director}", "approve", "--as", "liu", "--override", "  "],
     "--override"),
    ("control-characters-in-reason", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01",
                                      "--end", f"{Y}-03-02", "--reason", "a\x01b"], "--reason"),
    ("missing-org-file", ["org", "load", "{tmp}/missing.toml"], "no such file"),
    ("org-file-is-a-folder", ["org", "load", "{tmp}"], "folder"),
    ("missing-config-file", ["--config", "{tmp}/missing-outpost.toml", "case", "list"], "missing-outpost.toml"),
]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        populated: Populated, unchanged: Callable[[str], Unchanged], subtests: pytest.Subtests) -> None:
    """Bad input (unknown person/case/process/trigger, malformed or impossible date, …) exits 2, one line, no change."""
    cli = populated.cli
    db = unchanged(cli.url)
    for name, argv, fragment in BAD_INPUT:
        args = [a.format(staff=populated.staff_case, director=populated.director_case,
                         approved=populated.approved_case, tmp=cli.tmp_path) for a in argv]
        with subtests.test(msg=name):
            result = cli(*args)
            db.check()
            assert_user_error(result, 2, fragment)


@pytest.mark.parametrize("who", ["chen", "zhao"])
@pytest.mark.parametrize("year", [2199, 9999])
def test_leave_at_the_end_of_the_calendar_is_never_an_internal_error(populated: Populated, who: str,
                                                                     year: int) -> None:
    """A leave at the end of a far year is refused as bad input or handled, at opening and approval — never exit 1."""
    cli = populated.cli
    before = dump(cli.url)
    opened = cli("case", "open", "leave", "--as", who, "--start", f"{year}-12-30", "--end", f"{year}-12-31", "--json")
    assert "Traceback" not in opened.err
    assert opened.rc in (0, 2, 3), f"opening exited {opened.rc}: {opened.err!r}"
    if opened.rc != 0:
        assert_user_error(opened, opened.rc)
        assert dump(cli.url) == before
        return
    case = json.loads(opened.out)
    if case["state"] != "pending":
        return
    approver = {"zhao": "wang", "chen": "chen"}[who]  # chen's 2-day leave is recorded, never pending
    mid = dump(cli.url)
    approved = cli("case", "advance", str(case["id"]), "approve", "--as", approver)
    assert "Traceback" not in approved.err
    assert approved.rc in (0, 2, 3), f"approving exited {approved.rc}: {approved.err!r}"
    if approved.rc != 0:
        assert_user_error(approved, approved.rc)
        assert dump(cli.url) == mid


# -- invalid organisation files → exit 2, nothing written ----------------------------------------------
def person(pid: str, office: str | None, roles: list[str], email: str | None = None) -> str:
    lines = ["", "[[person]]", f'id = "{pid}"', f'name = "{pid} name"']
    lines.append(f'email = "{email or pid + "@example.org"}"')
    if office is not None:
        lines.append(f'office = "{office}"')
    lines.append("roles = [" + ", ".join(f'"{r}"' for r in roles) + "]")
    return "\n".join(lines) + "\n"


NEW_VALID_PERSON = person("xu", "SZ", ["staff"])
DUPLICATE_ID = person("zhao", "BJ", ["staff"])
UNKNOWN_ROLE = person("ma", "BJ", ["boss"])
SECOND_DIRECTOR = person("gao", "BJ", ["director"])
UNKNOWN_OFFICE = person("he", "GZ", ["staff"])
BAD_EMAIL = person("lin", "SZ", ["staff"], email="lin-at-example")

INVALID_ORGS: list[tuple[str, str, list[str]]] = [
    ("duplicate-id", ORG_TEXT + DUPLICATE_ID, ["duplicate person 'zhao'"]),
    ("unknown-role", ORG_TEXT + UNKNOWN_ROLE, ["unknown role 'boss'", "person[10] (ma).roles"]),
    ("two-directors-in-one-office", ORG_TEXT + SECOND_DIRECTOR, ["two directors in office 'BJ'"]),
    ("unknown-office", ORG_TEXT + UNKNOWN_OFFICE, ["unknown office 'GZ'", "person[10] (he).office"]),
    ("bad-email", ORG_TEXT + BAD_EMAIL, ["'lin-at-example' is not an e-mail address", "person[10] (lin).email"]),
    # addresses no mail server takes are refused here, not found out at the first delivery
    ("dotted-email", ORG_TEXT + person("lin", "SZ", ["staff"], email="lin..wu@example.org"),
     ["'lin..wu@example.org' is not an e-mail address"]),
    ("long-local-email", ORG_TEXT + person("lin", "SZ", ["staff"], email="l" * 65 + "@example.org"),
     ["is not an e-mail address"]),
    ("not-toml", '[[office]\ncode = "BJ\n', ["not valid TOML"]),
    ("not-utf8", "", ["not UTF-8"]),  # replaced by bytes below
    ("unknown-key", ORG_TEXT + '\n[[person]]\nid = "ma"\nname = "马"\noffice = "BJ"\nroles = ["staff"]\nrank = 3\n',
     ["person[10].rank: unknown key"]),
    ("several-errors-at-once",
     ORG_TEXT + NEW_VALID_PERSON + DUPLICATE_ID + UNKNOWN_ROLE + SECOND_DIRECTOR + UNKNOWN_OFFICE + BAD_EMAIL,
     ["5 errors", "duplicate person 'zhao'", "unknown role 'boss'", "two directors in office 'BJ'",
      "unknown office 'GZ'", "is not an e-mail address"]),
    ("valid-change-beside-an-error", ORG_TEXT + NEW_VALID_PERSON + BAD_EMAIL, ["1 error", "lin-at-example"]),
]


def write_org(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    if name == "not-utf8":
        path.write_bytes(ORG_TEXT.encode("utf-8") + b'\n# \xff\xfe broken\n')
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_invalid_org_file_exits_2_naming_every_error_and_writes_nothing(
        populated: Populated, unchanged: Callable[[str], Unchanged], subtests: pytest.Subtests) -> None:
    """An invalid org file is refused as a whole: exit 2, one line naming each error by key, nothing written."""
    cli = populated.cli
    db = unchanged(cli.url)
    for name, text, fragments in INVALID_ORGS:
        with subtests.test(msg=name):
            result = cli("org", "load", str(write_org(cli.tmp_path, name, text)))
            db.check()
            assert_user_error(result, 2, *fragments)
            people = {p["id"] for p in cli.json("org", "show")["people"]}
            assert not people & {"xu", "ma", "gao", "he", "lin"}


@pytest.mark.parametrize(("name", "text", "fragments"),
                         [pytest.param(*p, id=p[0]) for p in INVALID_ORGS
                          if p[0] in ("several-errors-at-once", "not-toml", "not-utf8")])
def test_invalid_org_file_on_a_fresh_database_writes_nothing(cli: Cli, name: str, text: str,
                                                             fragments: list[str]) -> None:
    """An invalid first org file leaves a freshly initialised database without offices or people."""
    cli.ok("init")
    path = write_org(cli.tmp_path, name, text)
    before = dump(cli.url)
    assert_user_error(cli("org", "load", str(path)), 2, *fragments)
    assert dump(cli.url) == before
    shown = cli.json("org", "show")
    assert (shown["offices"], shown["people"]) == ([], [])


# -- refused by a rule → exit 3 naming the rule --------------------------------------------------------
REFUSALS: list[tuple[str, list[str], str]] = [
    ("self-approval", ["case", "advance", "{director}", "approve", "--as", "wang"], "R-2.4"),
    ("self-rejection", ["case", "advance", "{director}", "reject", "--as", "wang"], "R-2.4"),
    ("director-leave-approved-by-deputy", ["case", "advance", "{director}", "approve", "--as", "li"], "R-2.1"),
    ("staff-leave-approved-by-other-office", ["case", "advance", "{staff}", "approve", "--as", "chen"], "R-2.3"),
    ("trigger-not-possible-in-state", ["case", "advance", "{approved}", "approve", "--as", "chen"], "leave.states"),
    ("system-trigger-by-a-person", ["case", "advance", "{approved}", "start", "--as", "liu"], "R-0"),
    ("withdraw-by-someone-else", ["case", "advance", "{staff}", "withdraw", "--as", "wang"], "R-2"),
    ("general-office-person-asks-leave", ["case", "open", "leave", "--as", "sun", "--start", f"{Y}-03-01",
                                          "--end", f"{Y}-03-02"], "R-2.3"),
    ("staff-leave-in-the-past", ["case", "open", "leave", "--as", "zhao", "--start", "2020-03-01",
                                 "--end", "2020-03-02"], "R-2.3"),
]


def test_refused_by_rule_exits_3_naming_the_rule_and_writes_nothing(
        populated: Populated, unchanged: Callable[[str], Unchanged], subtests: pytest.Subtests) -> None:
    """A trigger refused by a rule or permission exits 3 with the rule id in one line; nothing is written."""
    cli = populated.cli
    db = unchanged(cli.url)
    for name, argv, rule in REFUSALS:
        args = [a.format(staff=populated.staff_case, director=populated.director_case,
                         approved=populated.approved_case) for a in argv]
        with subtests.test(msg=name):
            result = cli(*args)
            db.check()
            line = assert_user_error(result, 3, f"({rule})")
            assert "refused" in line


# -- uninitialised database → exit 2, "run outpost init" ----------------------------------------------
UNINITIALISED: list[tuple[str, list[str]]] = [
    ("case-list", ["case", "list"]),
    ("case-list-json", ["case", "list", "--json"]),
    ("case-show", ["case", "show", "1"]),
    ("case-triggers", ["case", "triggers", "1", "--as", "liu"]),
    ("case-open", ["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-03-01", "--end", f"{Y}-03-02"]),
    ("case-advance", ["case", "advance", "1", "approve", "--as", "liu"]),
    ("org-load", ["org", "load", str(ORG_FILE)]),
    ("org-show", ["org", "show"]),
    ("audit-verify", ["audit", "verify"]),
]


def test_commands_on_an_uninitialised_database_ask_for_init(cli: Cli, subtests: pytest.Subtests) -> None:
    """Every command on a database never initialised exits 2 with one line saying to run `outpost init`."""
    before = dump(cli.url)
    for name, argv in UNINITIALISED:
        with subtests.test(msg=name):
            result = cli(*argv)
            assert dump(cli.url) == before, "the command wrote to the database"
            assert_user_error(result, 2, "outpost init")


# -- idempotence ---------------------------------------------------------------------------------------
def test_init_twice_changes_nothing(populated: Populated) -> None:
    """`outpost init` on an initialised database with cases exits 0 and changes no row."""
    cli = populated.cli
    before = dump(cli.url)
    result = cli.ok("init")
    assert "nothing to do" in result.out
    assert result.err == ""
    assert dump(cli.url) == before


def test_init_on_a_fresh_database_then_again_is_idempotent(cli: Cli) -> None:
    """The first `init` creates the schema; a second one exits 0 and leaves every table as it was."""
    first = cli.ok("init")
    assert "created" in first.out
    before = dump(cli.url)
    assert before, "init created no table"
    cli.ok("init")
    assert dump(cli.url) == before


def test_org_load_of_the_same_file_twice_changes_nothing(cli: Cli) -> None:
    """Loading the same org file a second time exits 0, reports no change and writes nothing."""
    cli.ok("init")
    first = cli.json("org", "load", str(ORG_FILE))
    assert first["changed"] is True
    before = dump(cli.url)
    second = cli.json("org", "load", str(ORG_FILE))
    assert second["changed"] is False
    assert not any(second[k] for k in second if isinstance(second[k], list))
    assert dump(cli.url) == before
    plain = cli.ok("org", "load", str(ORG_FILE))
    assert "unchanged" in plain.out
    assert dump(cli.url) == before


def test_org_load_again_with_cases_open_changes_nothing(populated: Populated) -> None:
    """Reloading the unchanged org file while cases are open writes nothing and opens no case."""
    cli = populated.cli
    before = dump(cli.url)
    assert cli.json("org", "load", str(ORG_FILE))["changed"] is False
    assert dump(cli.url) == before


# -- real processes: no traceback reaches stderr --------------------------------------------------------
def test_real_processes_report_user_errors_in_one_line_without_traceback(db_url: str, cli: Cli) -> None:
    """The `outpost` console script, run as separate processes, exits 2/3 with one line and never a traceback."""
    base = outpost_command()
    env = cli_env(db_url)
    cwd = cli.tmp_path

    uninit = subprocess.run([*base, "case", "list"], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    assert_user_error(Result(uninit.returncode, uninit.stdout, uninit.stderr), 2, "outpost init")

    cli.ok("init")
    cli.ok("org", "load", str(ORG_FILE))
    case = cli.json("case", "open", "leave", "--as", "wang", "--start", f"{Y}-04-01", "--end", f"{Y}-04-10")["id"]
    bad_org = write_org(cwd, "several", INVALID_ORGS[-2][1])
    runs: list[tuple[list[str], int, list[str]]] = [
        (["case", "open", "leave", "--as", "zhao", "--start", f"{Y}-02-30", "--end", f"{Y}-03-02"], 2,
         [f"{Y}-02-30"]),
        (["org", "load", str(bad_org)], 2, ["errors", "duplicate person 'zhao'"]),
        (["case", "advance", str(case), "approve", "--as", "wang"], 3, ["(R-2.4)"]),
    ]
    before = dump(db_url)
    procs = [(argv, code, fragments,
              subprocess.Popen([*base, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True))
             for argv, code, fragments in runs]
    for argv, code, fragments, proc in procs:
        out, err = proc.communicate(timeout=60)
        try:
            assert_user_error(Result(proc.returncode, out, err), code, *fragments)
        except AssertionError as exc:
            raise AssertionError(f"outpost {' '.join(argv)}: {exc}") from None
    assert dump(db_url) == before


def test_settings_files_and_policy_that_are_wrong_are_bad_input_not_internal_errors(
        populated: Populated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong setting or file is the administrator's to fix: exit 2, one line naming it, nothing written —
    never "internal error" (exit 1), never an unbounded read or a runaway computation."""
    cli, tmp = populated.cli, populated.cli.tmp_path
    unchanged = Unchanged(cli.url)
    leave = ("case", "open", "leave", "--as", "zhao", "--start", f"{Y}-06-01", "--end", f"{Y}-06-02")

    def refused(args: tuple[str, ...], *words: str) -> None:
        result = cli(*args)
        assert result.rc == 2, (args, result.rc, result.err)
        assert result.err.count("\n") == 1 and "internal error" not in result.err, result.err
        for word in words:
            assert word in result.err, (word, result.err)
        unchanged.check()

    try:
        with monkeypatch.context() as m:  # settings from the environment
            m.setenv("OUTPOST_SMTP_TIMEOUT", "abc")
            refused(("status",), "smtp.timeout")
        with monkeypatch.context() as m:  # the file's language counts only without OUTPOST_LANG (conftest sets it)
            m.delenv("OUTPOST_LANG", raising=False)
            for text, word in (('policy_file = 5\n', "policy_file"), ('[smtp]\ntimeout = "x"\n', "smtp.timeout"),
                               ('language = ["zh"]\n', "language")):
                (tmp / "outpost.toml").write_text(text, encoding="utf-8")
                refused(("status",), word)
            (tmp / "outpost.toml").write_bytes(b'language = "\xff\xfe"\n')
            refused(("status",), "not UTF-8")
        (tmp / "outpost.toml").unlink()

        policy = tmp / "policy.toml"  # a policy number beyond any sensible deadline is refused at load
        policy.write_text("[leave]\nescalate_after_workdays = 100000000\n", encoding="utf-8")
        with monkeypatch.context() as m:
            m.setenv("OUTPOST_POLICY", str(policy))
            refused(leave, "leave.escalate_after_workdays", "0–366")

        notice = tmp / "holidays.toml"  # holiday notices: size, names, byte-order mark
        notice.write_text('year = 2027\n[[holiday]]\nname = "' + "节" * 101 + '"\nstart = "2027-10-01"\n',
                          encoding="utf-8")
        refused(("calendar", "holidays", "load", str(notice)), "longer than 100")
        notice.write_text('year = 2027\n[[holiday]]\nname = "国庆\\u0000"\nstart = "2027-10-01"\n', encoding="utf-8")
        refused(("calendar", "holidays", "load", str(notice)), "control characters")
        notice.write_bytes(b"#" * 1_000_001)
        refused(("calendar", "holidays", "load", str(notice)), "larger than")

        refused(("tick", "--at", ""), "--at")  # an empty instant is not "now"
    finally:
        unchanged.close()
    bom = tmp / "bom.toml"  # a byte-order mark from a Windows editor is fine
    bom.write_bytes(b"\xef\xbb\xbf" + 'year = 2027\n[[holiday]]\nname = "国庆节"\nstart = "2027-10-01"\n'
                    'end = "2027-10-07"\n'.encode())
    cli.ok("calendar", "holidays", "load", str(bom))
    org_bom = tmp / "org.toml"
    org_bom.write_bytes(b"\xef\xbb\xbf" + ORG_FILE.read_bytes())
    cli.ok("org", "load", str(org_bom))
