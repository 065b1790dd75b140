"""The patterns of the engine's English messages that the CLI translates (outpost/cli/i18n.py
`translate_message`), as gettext msgids with `{placeholders}`: the text of the line `outpost` prints for an
error, and the lines of the processes' own commands.

A pattern matches a whole message; each placeholder matches any text, and a `{reason}` is translated in turn
(a refusal is "refused ({rule}): {reason}", the reason "{actor} may not {trigger}: {reason}", …). The most
specific pattern (the most literal text) is tried first. Placeholder values (ids, dates, states, amounts, rule
ids) are never translated. Imported only when an error is printed in Chinese.

Covered: the frame of every refusal, permission and conflict; not found; bad dates; each refusal by a rule of
leave (R-2), matter (R-3), reimbursement (R-7) and the periodic duties' lines. A message of the engine that no
pattern matches (a rarer refusal, a guard added later) is printed in English, with its rule id.
"""

from __future__ import annotations


def N_(message: str) -> str:  # the gettext marker (as outpost/cli/i18n.py's), here so i18n may import this
    return message


# the things `unknown {kind}: …` names (workflow/errors.py NotFound), translated as words
KINDS = (N_("case"), N_("person"), N_("office"), N_("process"), N_("information item"), N_("investment"),
         N_("delegation"), N_("mail"), N_("finding"))

PATTERNS = (
    # -- frames (workflow/errors.py, workflow/service.py, store/) ---------------------------------------
    N_("refused ({rule}): {reason}"),
    N_("{actor} may not {trigger}: {reason}"),
    N_("{actor} may not do this: {reason}"),
    N_("{reason} (an approver may pass it with --override REASON)"),
    N_("case {case} is {state}; {trigger} is not possible from there"),
    N_("{trigger} is fired by the daemon only"),
    N_("{process} cases are created by the daemon, not by a person"),
    N_("unknown {kind}: {ident} (known: {known})"),
    N_("unknown {kind}: {ident}"),
    N_("unknown {kind}: {ident} (a {thing} id is a number)"),
    N_("process {process} has no trigger {trigger} (known: {known})"),
    N_("{what}: expected YYYY-MM-DD, got {text}"),
    N_("{what}: impossible date {text} ({detail})"),
    N_("{what}: {text} is outside the years Outpost handles ({years})"),
    N_("{what}: expected YYYY-MM, got {text}"),
    N_("case {case} changed meanwhile (expected version {version}); nothing written, retry"),
    N_("the case changed meanwhile, nothing written; retry ({detail})"),
    N_("database busy, nothing written; retry"),
    N_("{actor} is not in an office; {reason}"),
    # -- leave (R-2) ----------------------------------------------------------------------------------
    N_("nobody approves their own leave"),
    N_("only the requester may do this"),
    N_("the return is recorded by the requester or their director"),
    N_("this request is decided by {levels} (now: {names})"),
    N_("the director of {office}"),
    N_("a supervising leader"),
    N_("the leave started on {start}; it can only be withdrawn before it starts"),
    N_("the return date {day} is before the leave started ({start})"),
    N_("the return date {day} is in the future; record it when it happens"),
    N_("{person} is already off site {span}; each day is asked for once"),
    N_("{person} has already asked for {span} (case {case}); each day is asked for once"),
    N_("{recorder} may not record leave for {person}: a leave that has begun is recorded by a General Office "
       "clerk or the person's director"),
    N_("{actor} is not staff of an office; R-2 covers the offices' people"),
    N_("the leave starts {start}, after today: {actor} asks for it before it starts; only a leave that has "
       "begun is recorded for someone"),
    N_("case {case} is not {actor}'s leave"),
    N_("case {case} is {state}; only an approved leave is extended"),
    N_("leave is asked before it starts; it starts {start} 00:00, which has passed (a leave that has begun is "
       "recorded by a General Office clerk or the director: --subject {actor})"),
    N_("nobody can approve this request (no {route} other than the requester)"),
    N_("{person} would be off site {days} in {year} ({used} already), over the limit of {limit} (at least 2/3 "
       "of the year on site)"),
    # -- matter (R-3) ---------------------------------------------------------------------------------
    N_("a request is decided by the supervising leader"),
    N_("a report is acknowledged by a General Office clerk or the supervising leader"),
    N_("only the requester ({person}) resubmits the matter"),
    N_("the outcome is recorded by the director of {office}"),
    N_("a matter is closed by a General Office clerk"),
    N_("this is a request (请示): it is approved, rejected or returned for revision, not acknowledged"),
    N_("this is a report (报告), for information: it is acknowledged, not decided"),
    N_("the date {day} is in the future; record the outcome when it has happened"),
    N_("a {kind} of category {category} is made in writing and in advance with its planned execution date: "
       "give {option} DATE"),
    N_("a matter of category {category} is reported before its date: give {option} DATE"),
    N_("a {kind} of category {category} is made in advance (提前): the planned date {day} is not after today "
       "({today})"),
    N_("the planned date {day} has come: a request is made in advance, so resubmit it with a new --date"),
    N_("{actor} is not staff of an office; major matters are reported or requested by an office"),
    N_("a {category} matter is refused at submission: {why}"),
    N_("a matter of category {category} must be requested (请示) in writing and in advance, with its planned "
       "execution date: use --kind request --event-date DATE"),
    # -- reimbursement (R-7) --------------------------------------------------------------------------
    N_("nobody approves their own claim"),
    N_("the director's own claim is approved by a supervising leader"),
    N_("a claim of {office} is approved by its director or a supervising leader"),
    N_("claims are checked and paid by General Office finance"),
    N_("nobody checks or pays their own claim"),
    N_("only the claimant ({person}) may do this"),
    N_("give the payment's reference with --reference R"),
    N_("{actor} is not one of an office's people; claims are brought by the offices (报帐)"),
    N_("each office's budget is set by General Office finance"),
    N_("no budget is set for {office} in {year} (General Office finance sets it with `outpost budget set`)"),
    N_("{amount} yuan is more than what remains of {what}: {left} of {budget} yuan"),
    N_("{reason}; only a supervising leader may approve it, with --override REASON"),
    # -- the periodic duties' commands (R-6.3, R-6.4) -------------------------------------------------------
    N_("information items of {office} are logged by that office's people"),
    N_("items are accepted as valuable by a General Office clerk or the supervising leader"),
    N_("information item {item} is already {status}"),
    N_("information items are fed back by the offices"),
    N_("investments are recorded by the offices"),
    N_("information item {item} logged for {office} {period} (case {case}); {accepted} of {quota} accepted so far"),
    N_("information item {item} accepted; {office} {period}: {accepted} of {quota} accepted"),
    N_("{count} information item(s)"),
    N_("investment recorded (id {item}): {amount} yuan for {office} {period} (case {case}); {total} of {target} "
       "yuan this year"),
    N_("{count} investment(s), {total} yuan"),
    N_("{item} {office} {date} {amount} yuan {source}: {project} (credits: {credits})"),
    # -- the warnings of `outpost status` (outpost/status.py) --------------------------------------------
    N_("no holiday data for {year}: working days are computed Monday–Friday (R-0.6); load the official notice "
       "with `outpost calendar holidays load FILE`"),
    N_("no holiday data for {year}: working days are computed Monday–Friday (R-0.6); {count} pending deadline(s) "
       "computed that way (ids {ids}); load the official notice with `outpost calendar holidays load FILE`"),
    N_("{count} pending deadline(s) were computed Monday–Friday for {year} before its holiday data was there and "
       "keep that time (ids {ids}, R-0.6)"),
    # -- the reimbursement lines of `report compliance` (machines/reimbursement compliance_text) ----------
    N_("reimbursement (R-7.1, R-7.2): budget {budget} yuan, approved {approved}, paid {paid}, remaining {left}; "
       "{claims} claims, {waiting} in progress"),
    N_("reimbursement (R-7.1, R-7.2): budget {budget} yuan, approved {approved}, paid {paid}, remaining {left}; "
       "{claims} claims, {waiting} in progress, {over} approved over budget"),
    N_("reimbursement (R-7.1, R-7.2): budget not set yuan, approved {approved}, paid {paid}; {claims} claims, "
       "{waiting} in progress"),
    N_("reimbursement (R-7.1, R-7.2): budget not set yuan, approved {approved}, paid {paid}; {claims} claims, "
       "{waiting} in progress, {over} approved over budget"),
    N_("{category}: budget {budget}, approved {approved}"),
    # -- click's own lines (usage errors) -------------------------------------------------------------
    N_("Missing argument {name}."),
    N_("Missing option {name}."),
    N_("No such option: {name}"),
    N_("No such command {name}."),
    N_("Got unexpected extra argument ({args})"),
    N_("Got unexpected extra arguments ({args})"),
    N_("Option {name} requires an argument."),
)
