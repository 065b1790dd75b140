"""State diagrams (`outpost diagram`): every transition drawn, one edge per (state, state) pair, and the dot
text laid out by Graphviz itself (Debian's `graphviz`, installed by .ci/run) without a warning."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from typing import Any

import pytest

from workflow import registry
from workflow.definition import ProcessDefinition
from workflow.diagram import dot, mermaid

PROCESSES = registry.names()
_EDGE = re.compile(r"^ {4}(\S+) --> (\S+)(?:: (.*))?$")


def transitions(d: ProcessDefinition) -> Counter[tuple[str, str, str]]:
    """(source, dest, trigger) of every transition of the definition; an internal one loops."""
    return Counter((s, t.dest or s, t.trigger) for t in d.transitions for s in t.source)


def mermaid_edges(text: str) -> list[tuple[str, str, list[str]]]:
    found = []
    for line in text.splitlines():
        m = _EDGE.match(line)
        if m and "[*]" not in (m[1], m[2]):
            found.append((m[1], m[2], [label.removesuffix(" (system)") for label in m[3].split("<br/>")]))
    return found


def laid_out(d: ProcessDefinition) -> dict[str, Any]:
    """The dot text as Graphviz lays it out (`-Tjson`), failing on anything it writes to stderr."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed (.ci/run installs Debian's graphviz)")
    done = subprocess.run(["dot", "-Tjson"], input=dot(d), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    layout: dict[str, Any] = json.loads(done.stdout)
    return layout


def drawn_edges(layout: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """Each edge Graphviz drew, with the label lines it drew for it (not the text it was given)."""
    names = {o["_gvid"]: o["name"] for o in layout["objects"]}
    out = []
    for e in layout["edges"]:
        texts = [op["text"] for op in e.get("_ldraw_", []) if op["op"] == "T"]
        out.append((names[e["tail"]], names[e["head"]], [t.removesuffix(" (system)") for t in texts]))
    return out


@pytest.mark.parametrize("process", PROCESSES)
def test_mermaid_has_one_edge_per_pair_of_states_and_every_transition(process: str) -> None:
    """Mermaid keeps only the last edge between two states, so each (state, state) pair is one edge whose
    label lists all its triggers; together they name every transition of the definition exactly once."""
    d = registry.latest(process)
    drawn = mermaid_edges(mermaid(d))
    pairs = Counter((src, dst) for src, dst, _ in drawn)
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    assert Counter((src, dst, t) for src, dst, labels in drawn for t in labels) == transitions(d)


@pytest.mark.parametrize("process", PROCESSES)
def test_dot_draws_without_warning_one_edge_per_pair_and_every_transition(process: str) -> None:
    """Graphviz lays out the dot text with nothing on stderr; it draws one edge per (state, state) pair
    and, on them, a label line for every transition of the definition (and the start arrow)."""
    d = registry.latest(process)
    drawn = drawn_edges(laid_out(d))
    pairs = Counter((src, dst) for src, dst, _ in drawn)
    assert max(pairs.values()) == 1
    assert {o for o, _, _ in drawn} <= {*d.states, "__start"}
    states = [(src, dst, labels) for src, dst, labels in drawn if src != "__start"]
    assert Counter((src, dst, t) for src, dst, labels in states for t in labels) == transitions(d)
    assert sorted(dst for src, dst, _ in drawn if src == "__start") == sorted(d.initial_states)


def test_departure_audit_in_dot_is_narrow_and_no_two_labels_overlap() -> None:
    """The longest process (9 states, self-loops on 8) is drawn top to bottom: less than 600 pt wide (it
    was 2,695 px left to right), and no edge label's box overlaps another's or a state's."""
    layout = laid_out(registry.latest("departure_audit"))
    _, _, width, _ = (float(v) for v in layout["bb"].split(","))
    assert width < 600
    boxes = []
    for e in layout["edges"]:
        lines = [op for op in e.get("_ldraw_", []) if op["op"] == "T"]
        if lines:  # T ops: baseline point, width; one line is the font size high
            xs = [op["pt"][0] for op in lines]
            ys = [op["pt"][1] for op in lines]
            boxes.append((min(xs), min(ys) - 3, min(xs) + max(op["width"] for op in lines), max(ys) + 11))
    for o in layout["objects"]:
        if "pos" in o and o["name"] != "__start":
            x, y = (float(v) for v in o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36  # half, in points
            boxes.append((x - w, y - h, x + w, y + h))

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b)]
    assert clashes == []
