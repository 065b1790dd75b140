"""State diagrams generated from a process definition (never drawn by hand)."""

from __future__ import annotations

from workflow.definition import ProcessDefinition


def mermaid(d: ProcessDefinition) -> str:
    lines = ["stateDiagram-v2", f"    %% {d.name} v{d.version}: {d.title}"]
    for s in d.initial_states:
        lines.append(f"    [*] --> {s}")
    for t in d.transitions:
        label = t.trigger + (" (system)" if t.system else "")
        for s in t.source:
            lines.append(f"    {s} --> {t.dest or s}: {label}")
    for s in d.final_states:
        lines.append(f"    {s} --> [*]")
    for spec in d.deadlines:
        lines.append(f"    note right of {spec.state}: {spec.kind} ({spec.rule_id})")
    return "\n".join(lines) + "\n"


def dot(d: ProcessDefinition) -> str:
    lines = [f'digraph "{d.name}" {{', "    rankdir=LR;", '    node [shape=box, style=rounded];',
             '    __start [shape=point];']
    for s in d.states:
        shape = ", peripheries=2" if s in d.final_states else ""
        lines.append(f'    "{s}" [label="{s}"{shape}];')
    for s in d.initial_states:
        lines.append(f'    __start -> "{s}";')
    for t in d.transitions:
        style = ", style=dashed" if t.system else ""
        for s in t.source:
            lines.append(f'    "{s}" -> "{t.dest or s}" [label="{t.trigger}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
