"""State diagrams generated from a process definition (never drawn by hand).

Each (state, state) pair is ONE edge whose label lists every trigger that moves along it: mermaid keeps
only the last of several edges between the same two states (a state's self-loops overwrite each other),
and in dot parallel edges stack their labels on top of one another. An internal transition (`dest=None`)
is a self-loop on each of its source states. A system trigger (fired by the daemon) is marked
"(system)"; in dot an edge only system triggers move along is dashed.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflow.definition import ProcessDefinition

Edge = tuple[str, str]


def edges(d: ProcessDefinition) -> dict[Edge, list[tuple[str, bool]]]:
    """(source, dest) -> [(trigger, system), …] in definition order, one entry per pair."""
    found: dict[Edge, list[tuple[str, bool]]] = {}
    for t in d.transitions:
        for s in t.source:
            found.setdefault((s, t.dest or s), []).append((t.trigger, t.system))
    return found


def _label(trigger: str, daemon: bool, system: str = "system") -> str:
    return trigger + (f" ({system})" if daemon else "")


def mermaid(d: ProcessDefinition) -> str:
    lines = ["stateDiagram-v2", f"    %% {d.name} v{d.version}: {d.title}"]
    for s in d.initial_states:
        lines.append(f"    [*] --> {s}")
    for (src, dst), triggers in edges(d).items():
        lines.append(f"    {src} --> {dst}: " + "<br/>".join(_label(t, system) for t, system in triggers))
    for s in d.final_states:
        lines.append(f"    {s} --> [*]")
    for spec in d.deadlines:
        lines.append(f"    note right of {spec.state}: {spec.kind} ({spec.rule_id})")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot(d: ProcessDefinition, states: Mapping[str, str] | None = None, triggers: Mapping[str, str] | None = None,
        system: str = "system") -> str:
    """The definition as Graphviz dot. `states`, `triggers`: what to write instead of their codes (a page in
    Chinese); `system`: the word marking a trigger the daemon fires."""
    state_names, trigger_names = states or {}, triggers or {}
    # Top to bottom: a long chain of states (departure_audit has 9) drawn left to right is thousands of
    # pixels wide; downwards, the self-loop labels sit beside their state instead of crowding above it.
    lines = [f'digraph "{_dot_text(d.name)}" {{', "    rankdir=TB;", "    nodesep=0.5;",
             '    node [shape=box, style=rounded];', '    edge [fontsize=11];', '    __start [shape=point];']
    for s in d.states:
        shape = ", peripheries=2" if s in d.final_states else ""
        lines.append(f'    "{s}" [label="{_dot_text(state_names.get(s, s))}"{shape}];')
    for s in d.initial_states:
        lines.append(f'    __start -> "{s}";')
    for (src, dst), fired in edges(d).items():
        label = "\\l".join(_dot_text(_label(trigger_names.get(t, t), daemon, system)) for t, daemon in fired) + "\\l"
        style = ", style=dashed" if all(daemon for _, daemon in fired) else ""
        lines.append(f'    "{src}" -> "{dst}" [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
