"""The trading rule: which markets crossed the threshold, which to buy, and why others are skipped.

Pure: values and `now` in, a list of signals out. The default rule is the brief's: when the YES
price is above 0.50, buy NO. Only markets that cross the threshold produce a signal; each is
actionable or skipped with one reason, checked in a fixed order so a replay gives the same answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from prescientd.config import StrategyConfig
from prescientd.core.filters import id_key, is_binary
from prescientd.core.keys import idempotency_key
from prescientd.core.prices import is_stale
from prescientd.models import (
    DEFAULT_STRATEGY,
    Action,
    Market,
    Portfolio,
    Quote,
    Signal,
    SignalStatus,
    SkipReason,
)


def entry_key(
    action: Action | str,
    market_id: str,
    token_id: str,
    entry_number: int,
    strategy: str = DEFAULT_STRATEGY,
) -> str:
    """Deterministic idempotency key (hex sha256) of one strategy's Nth entry into one market."""
    return idempotency_key(f"{action}|{market_id}|{token_id}|entry{entry_number}", strategy)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A market whose YES price crossed the threshold, with its first skip reason if any."""

    market: Market
    token_id: str
    outcome: str
    yes_price: Decimal
    confidence: Decimal
    crossing: str
    skip: SkipReason | None = None
    skip_detail: str = ""

    def skipped(self, reason: SkipReason, detail: str) -> _Candidate:
        return dataclasses.replace(self, skip=reason, skip_detail=detail)


def _num(value: Decimal) -> str:
    """A price as written, without exponent notation or float noise."""
    return format(value, "f")


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _rank(candidate: _Candidate) -> tuple[Decimal, Decimal, tuple[int, str]]:
    """Best first: higher confidence, then more liquidity, then the lower market id."""
    market = candidate.market
    return (-candidate.confidence, -market.liquidity_usd, id_key(market.market_id))


def _crossing(
    market: Market, quotes: Mapping[str, Quote], cfg: StrategyConfig
) -> _Candidate | None:
    """The market as a candidate when its (possibly stale) YES price crosses the threshold."""
    yes_quote = quotes.get(market.yes_token_id)
    yes_price = yes_quote.price(cfg.price_source) if yes_quote is not None else None
    if yes_price is None:
        return None
    if cfg.comparison == "above":
        confidence, sign = yes_price - cfg.threshold, ">"
    else:
        confidence, sign = cfg.threshold - yes_price, "<"
    if confidence <= 0:
        return None
    index = 1 if cfg.action is Action.BUY_NO else 0
    yes_name = market.outcomes[0]
    label = "YES" if yes_name.casefold() == "yes" else f"YES ({yes_name})"
    source = cfg.price_source.value.replace("_", " ")
    return _Candidate(
        market=market,
        token_id=market.token_ids[index],
        outcome=market.outcomes[index],
        yes_price=yes_price,
        confidence=confidence,
        crossing=f"{label} {source} price {_num(yes_price)} {sign} {_num(cfg.threshold)}",
    )


def _first_skip(
    cand: _Candidate,
    quotes: Mapping[str, Quote],
    portfolio: Portfolio,
    cfg: StrategyConfig,
    max_price_age_s: float,
    now: datetime,
) -> _Candidate:
    """The candidate with the first per-market skip reason that applies, or unchanged."""
    market = cand.market
    yes_quote = quotes.get(market.yes_token_id)
    if yes_quote is None or is_stale(yes_quote, now, max_price_age_s):
        age = f"{yes_quote.age_s(now):.0f}s" if yes_quote is not None else "?"
        return cand.skipped(
            SkipReason.STALE_PRICE, f"YES price is {age} old (max {max_price_age_s:g}s)"
        )
    quote = quotes.get(cand.token_id)
    if quote is None:
        return cand.skipped(SkipReason.STALE_PRICE, f"no price for the {cand.outcome} token")
    if is_stale(quote, now, max_price_age_s):
        return cand.skipped(
            SkipReason.STALE_PRICE,
            f"{cand.outcome} price is {quote.age_s(now):.0f}s old (max {max_price_age_s:g}s)",
        )
    if not cfg.min_price <= cand.yes_price <= cfg.max_price:
        return cand.skipped(
            SkipReason.PRICE_BAND,
            f"YES price {_num(cand.yes_price)} outside "
            f"[{_num(cfg.min_price)}, {_num(cfg.max_price)}]",
        )
    entries = portfolio.entries_by_market.get(market.market_id, 0)
    if entries >= cfg.max_positions_per_market:
        return cand.skipped(
            SkipReason.HELD,
            f"{entries} entries in this market (max {cfg.max_positions_per_market})",
        )
    if any(p.token_id == cand.token_id for p in portfolio.positions.values()):
        return cand.skipped(SkipReason.HELD, f"already holding {cand.outcome}")
    if quote.spread is None:
        return cand.skipped(SkipReason.SPREAD, f"{cand.outcome} book is one-sided (no spread)")
    if quote.spread > cfg.max_spread:
        return cand.skipped(
            SkipReason.SPREAD, f"spread {_num(quote.spread)} > max {_num(cfg.max_spread)}"
        )
    needed_usd = cfg.stake_usd * cfg.min_depth_ratio
    if quote.ask_depth_usd < needed_usd:
        return cand.skipped(
            SkipReason.THIN_BOOK,
            f"ask depth {_usd(quote.ask_depth_usd)} < {_usd(needed_usd)} needed",
        )
    return cand


def _best_per_event(candidates: list[_Candidate]) -> list[_Candidate]:
    """Keep only the best actionable candidate of each event actionable."""
    best: dict[str, _Candidate] = {}
    for cand in candidates:
        if cand.skip is None:
            current = best.get(cand.market.event_id)
            if current is None or _rank(cand) < _rank(current):
                best[cand.market.event_id] = cand
    out: list[_Candidate] = []
    for cand in candidates:
        winner = best.get(cand.market.event_id)
        if cand.skip is None and winner is not None and winner is not cand:
            cand = cand.skipped(
                SkipReason.NOT_BEST_IN_EVENT,
                f"market {winner.market.market_id} is the best in event {cand.market.event_id}",
            )
        out.append(cand)
    return out


def _portfolio_limits(
    candidates: list[_Candidate], portfolio: Portfolio, cfg: StrategyConfig
) -> list[_Candidate]:
    """Skip candidates, best first, once open positions or spendable cash run out."""
    open_positions = len(portfolio.positions)
    committed_usd = Decimal(0)
    taken = 0
    out: list[_Candidate] = []
    for cand in sorted(candidates, key=_rank):
        if cand.skip is None:
            spendable_usd = portfolio.spendable_usd(cfg.cash_reserve_usd, committed_usd)
            capped = cfg.max_open_positions > 0  # 0 = no cap: cash is the only limit
            if capped and open_positions + taken + 1 > cfg.max_open_positions:
                cand = cand.skipped(
                    SkipReason.MAX_OPEN_POSITIONS,
                    f"{open_positions + taken} open positions (max {cfg.max_open_positions})",
                )
            elif spendable_usd < cfg.stake_usd:
                cand = cand.skipped(
                    SkipReason.CASH_RESERVE,
                    f"spendable cash {_usd(spendable_usd)} after reserve "
                    f"{_usd(cfg.cash_reserve_usd)} < stake {_usd(cfg.stake_usd)}",
                )
            else:
                taken += 1
                committed_usd += cfg.stake_usd
        out.append(cand)
    return out


def _signal(cand: _Candidate, portfolio: Portfolio, cfg: StrategyConfig) -> Signal:
    market = cand.market
    entry_number = portfolio.entries_by_market.get(market.market_id, 0)
    reason = cand.crossing if cand.skip is None else f"{cand.crossing}; skipped: {cand.skip_detail}"
    return Signal(
        market_id=market.market_id,
        event_id=market.event_id,
        question=market.question,
        action=cfg.action,
        token_id=cand.token_id,
        outcome=cand.outcome,
        price_source=cfg.price_source,
        yes_price=cand.yes_price,
        threshold=cfg.threshold,
        confidence=cand.confidence,
        stake_usd=cfg.stake_usd,
        status=SignalStatus.ACTIONABLE if cand.skip is None else SignalStatus.SKIPPED,
        reason=reason,
        skip_reason=cand.skip,
        idempotency_key=entry_key(
            cfg.action, market.market_id, cand.token_id, entry_number, portfolio.strategy
        ),
        liquidity_usd=market.liquidity_usd,
        strategy=portfolio.strategy,
    )


def decide(
    markets: Sequence[Market],
    quotes: Mapping[str, Quote],
    portfolio: Portfolio,
    cfg: StrategyConfig,
    max_price_age_s: float,
    now: datetime,
) -> list[Signal]:
    """Signals for markets whose YES price crosses the threshold: actionable first, then skipped.

    The portfolio is the account of one strategy (`portfolio.strategy`): its holdings, cash and
    entry counts decide the skips, and its name scopes the signals' idempotency keys.
    """
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for market in markets:
        if market.market_id in seen or not is_binary(market):
            continue
        seen.add(market.market_id)
        cand = _crossing(market, quotes, cfg)
        if cand is not None:
            candidates.append(_first_skip(cand, quotes, portfolio, cfg, max_price_age_s, now))
    if cfg.market_selection == "best_per_event":
        candidates = _best_per_event(candidates)
    candidates = _portfolio_limits(candidates, portfolio, cfg)
    ordered = sorted(candidates, key=lambda cand: (cand.skip is not None, _rank(cand)))
    return [_signal(cand, portfolio, cfg) for cand in ordered]
