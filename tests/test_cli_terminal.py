"""What a CLI process prints besides its answer: warnings as `outpost: warning: …`, never a bare log line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from outpost.app import App
from tests.conftest import outpost

# a warning logged while `outpost status` runs (planted in the process under test)
WARN = ("import logging, outpost.status as s\n_gather = s.gather\n"
        "def gather(app):\n    logging.getLogger('outpost.ticker').warning('something to know')\n"
        "    return _gather(app)\n"
        "s.gather = gather")


def test_a_deadline_in_a_year_without_holiday_data_adds_no_stray_line(make_app: Callable[..., App],
                                                                       sqlite_url: str, tmp_path: Path) -> None:
    """A request whose R-2.8 reminder falls in a year the calendar does not know (30 working days away) prints
    only its answer: the Monday–Friday fallback is said on the deadline itself and by `outpost status`."""
    make_app(sqlite_url)
    policy = tmp_path / "policy.toml"
    policy.write_text("[leave]\nremind_approver_after_workdays = 30\nescalate_after_workdays = 31\n")
    env = {"OUTPOST_DATABASE_URL": sqlite_url, "OUTPOST_POLICY": str(policy),
           "OUTPOST_OUTBOX_DIR": str(tmp_path / "outbox")}
    done = outpost(["case", "open", "leave", "--as", "zhao", "--start", "2099-03-02", "--end", "2099-03-03"],
                   tmp_path, **env)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith("case ") and done.stdout.count("\n") == 1
    shown = outpost(["case", "show", done.stdout.split()[1].rstrip(":")], tmp_path, **env)
    assert "Monday–Friday" in shown.stdout or "fallback" in shown.stdout, shown.stdout
    status = outpost(["status"], tmp_path, **env)
    assert "no holiday data for" in status.stdout


def test_other_warnings_reach_the_terminal_as_outpost_warning_lines(make_app: Callable[..., App], sqlite_url: str,
                                                                     tmp_path: Path) -> None:
    """Any other warning logged while a command runs is one `outpost: warning: …` line on stderr."""
    make_app(sqlite_url)
    done = outpost(["status"], tmp_path, WARN, OUTPOST_DATABASE_URL=sqlite_url)
    assert done.returncode == 0 and done.stderr == "outpost: warning: something to know\n", done.stderr
