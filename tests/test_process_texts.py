"""Every process names its states, the steps people take and its deadlines in both languages (texts.toml in
its folder): a page, a mail or a table never shows `pending` or `remind_approver` to a reader of Chinese."""

from __future__ import annotations

import pytest

from workflow import registry
from workflow.texts import action_name, deadline_name, state_name, text

registry.load_machines()
PROCESSES = sorted(registry.names_in("en"))


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_state_action_and_deadline_has_a_name(process: str, lang: str) -> None:
    definition = registry.latest(process)
    missing = [f"states.{s}" for s in definition.states if text(process, lang, "states", s) is None]
    missing += [f"actions.{t.trigger}" for t in definition.transitions
                if not t.system and text(process, lang, "actions", t.trigger) is None]
    missing += [f"deadlines.{d.kind}" for d in definition.deadlines if text(process, lang, "deadlines", d.kind) is None]
    assert not missing, f"machines/{process}/texts.toml [{lang}.…] lacks: {', '.join(sorted(set(missing)))}"


def test_chinese_names_are_chinese_and_fall_back_to_the_code() -> None:
    assert state_name("leave", "zh", "pending") == "待审批"
    assert action_name("reimbursement", "zh", "return_for_correction") == "退回更正"
    assert deadline_name("leave", "zh", "remind_approver") == "提醒审批人"
    assert state_name("leave", "zh", "no_such_state") == "no_such_state"
    assert action_name("leave", "zh", "no_such_step") == "no such step"
