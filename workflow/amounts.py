"""Numbers people type: amounts of yuan (every `--amount` and `--credit` of every process) and scores.

One parser, so that an amount written one way is read the same everywhere (PRODUCT.md: "Amounts are yuan,
written `300000`, `300,000`, `30万`, `1.5亿`; anything ambiguous is bad input"):

- digits 0–9 with an optional decimal point: `300000`, `300000.50`;
- thousands separators `,` (or the full-width `，`, or `_`) only between groups of three digits: `300,000`,
  `30,000,000.5`; `30,00` or `1,5` (a decimal comma elsewhere) is refused;
- one unit after the number, 万 (10,000) or 亿 (100,000,000), and an optional 元: `30万`, `1.5亿`,
  `3000万元`, `300000元`;
- refused as ambiguous or malformed: more than two decimals on plain yuan (`1.000` is 1 or 1,000 depending
  on who wrote it), anything below a fen (`0.001万` is fine: 10 yuan; `1.2345678万` is not), two units
  (`3万万`, `1亿5000万`), other units or words (`3千万`, `三十万`), signs, exponents, spaces inside, and
  digits other than 0–9.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from workflow.errors import BadInput

_NUMBER = re.compile(r"(?P<int>[0-9]{1,3}(?:(?P<sep>[,，_])[0-9]{3})(?:(?P=sep)[0-9]{3})*|[0-9]+)"
                     r"(?:\.(?P<frac>[0-9]+))?(?P<unit>万|亿)?元?")
_SCALE = {None: Decimal(1), "万": Decimal(10_000), "亿": Decimal(100_000_000)}
FEN = Decimal("0.01")
MAX_TEXT = 40
HINT = "yuan such as 300000, 300,000, 30万 or 1.5亿"


def parse_yuan(value: object, what: str = "--amount", *, whole: bool = False, positive: bool = True,
               maximum: int = 10**13) -> Decimal:
    """The amount in yuan written in `value` (exact); bad input naming `what` for anything else.

    `whole`: only whole yuan (an investment); otherwise at most two decimals (yuan and fen).
    `positive`: zero refused too. `maximum`: anything larger is a typing error (an extra group of zeros)."""
    if isinstance(value, bool):
        raise BadInput(f"{what}: expected {HINT}")
    if isinstance(value, int):
        amount = Decimal(value)
    else:
        text = str(value).strip()
        m = _NUMBER.fullmatch(text) if len(text) <= MAX_TEXT else None
        if m is None:
            raise BadInput(f"{what}: expected {HINT}, got {str(value)[:MAX_TEXT]!r}")
        frac = m.group("frac")
        if frac is not None and m.group("unit") is None and len(frac) > 2:
            raise BadInput(f"{what}: {text!r} is ambiguous (a decimal point with {len(frac)} digits after it); "
                           "write yuan with at most two decimals, or 万/亿")
        digits = re.sub(r"[,，_]", "", m.group("int")) + (f".{frac}" if frac is not None else "")
        try:
            amount = Decimal(digits) * _SCALE[m.group("unit")]
        except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
            raise BadInput(f"{what}: expected {HINT}, got {text!r}") from None
    if amount < 0 or (positive and amount == 0):
        raise BadInput(f"{what}: an amount is {'positive' if positive else 'at least 0'}, got {value}")
    if amount > maximum:  # before any rounding: a 40-digit number is past Decimal's precision
        raise BadInput(f"{what}: {str(value)[:MAX_TEXT]} yuan is implausibly large (more than {maximum:,})")
    if whole and amount != amount.to_integral_value():
        raise BadInput(f"{what}: {str(value)[:MAX_TEXT]} is not a whole number of yuan")
    if amount != amount.quantize(FEN):
        raise BadInput(f"{what}: {str(value)[:MAX_TEXT]} is not a whole number of fen (0.01 yuan)")
    return amount


def yuan_text(amount: Decimal) -> str:
    """An amount as stored in case data: `300000`, or `300000.50` with its fen."""
    return str(int(amount)) if amount == amount.to_integral_value() else format(amount.quantize(FEN), "f")


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,6}")


def parse_score(value: object, what: str = "--score", low: int = 0, high: int = 100) -> int:
    """An assessment score: a whole number low–high written in digits 0–9 (`九十` and `９０` are bad input)."""
    text = str(value).strip()
    if not _WHOLE_NUMBER.fullmatch(text):  # not int(): it also takes "1_0" and full-width digits
        raise BadInput(f"{what}: expected a whole number {low}–{high}, got {str(value)[:20]!r}")
    score = int(text)
    if not low <= score <= high:
        raise BadInput(f"{what}: expected {low}–{high}, got {score}")
    return score
