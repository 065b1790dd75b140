"""`outpost info list` and `outpost invest list` (issue 17 point 11): the lists people need, declared by the
process folders and read through the case service."""

from __future__ import annotations

import json
from typing import Any


def test_R6_3_info_list_shows_items_awaiting_acceptance(frozen_cli: Any) -> None:
    """`info list --status logged` lists the items still awaiting acceptance, with their ids; --office and
    --month narrow it; the JSON is the items as `info add --json` prints them."""
    ids = []
    for who, title in (("zhao", "物流园区政策"), ("li", "招商会"), ("huang", "深圳行情")):
        rc, out, err = frozen_cli("info", "add", "--as", who, "--title", title, "--json")
        assert rc == 0, err
        ids.append(json.loads(out)["id"])
    assert frozen_cli("info", "accept", str(ids[0]), "--as", "sun")[0] == 0
    rc, out, err = frozen_cli("info", "list", "--status", "logged", "--json")
    assert rc == 0, err
    assert [(i["id"], i["office"], i["status"]) for i in json.loads(out)] == [
        (ids[1], "BJ", "logged"), (ids[2], "SZ", "logged")]
    rc, out, _err = frozen_cli("info", "list", "--office", "BJ", "--month", "2027-05", "--json")
    assert [i["id"] for i in json.loads(out)] == ids[:2]
    rc, out, _err = frozen_cli("info", "list", "--month", "2027-04", "--json")
    assert rc == 0 and json.loads(out) == []
    rc, out, _err = frozen_cli("info", "list", "--office", "SZ")
    assert rc == 0 and str(ids[2]) in out and "深圳行情" in out and "招商会" not in out


def test_info_list_bad_input_exits_2(frozen_cli: Any) -> None:
    """An unknown office, a malformed month or an unknown status: exit 2, one line."""
    for args in (("--office", "XX"), ("--month", "May"), ("--status", "done")):
        rc, _out, err = frozen_cli("info", "list", *args)
        assert rc == 2 and err.count("\n") == 1, (args, err)


def test_R6_4_invest_list_by_office_and_year(frozen_cli: Any) -> None:
    """`invest list` shows each investment with its id, amount, project and credits; --office and --year
    narrow it; a malformed year exits 2."""
    rc, out, err = frozen_cli("invest", "add", "--as", "wang", "--amount", "3000万", "--source", "foreign",
                              "--project", "新能源电池厂", "--credit", "wang=2000万", "--json")
    assert rc == 0, err
    first = json.loads(out)["id"]
    assert frozen_cli("invest", "add", "--as", "chen", "--amount", "100万", "--source", "domestic",
                      "--project", "仓储")[0] == 0
    rc, out, err = frozen_cli("invest", "list", "--office", "BJ", "--year", "2027", "--json")
    assert rc == 0, err
    rows = json.loads(out)
    assert [(r["id"], r["amount"], r["credits"]) for r in rows] == [
        (first, 30_000_000, [{"person": "wang", "yuan": 20_000_000}])]
    rc, out, _err = frozen_cli("invest", "list", "--year", "2026", "--json")
    assert json.loads(out) == []
    rc, out, _err = frozen_cli("invest", "list")
    assert rc == 0 and "新能源电池厂" in out and "仓储" in out and str(first) in out
    assert frozen_cli("invest", "list", "--year", "twenty")[0] == 2
    assert frozen_cli("invest", "list", "--year", "9" * 5000)[0] == 2  # not int()'s ValueError (exit 1)
