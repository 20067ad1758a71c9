"""[strategies.NAME] variants: inheritance from [strategy], names, strict types, reload rules."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from prescientd.config import ConfigError, decision_inputs, parse_config
from prescientd.reload import diff_configs, merge_reload, reload_refusal

BASE = """
timezone = "America/New_York"
[strategy]
threshold = 0.55
stake_usd = 50
max_open_positions = 7
[paper]
starting_balance_usd = 20000
"""


def test_a_variant_is_the_default_strategy_except_for_its_own_keys() -> None:
    """Keys a variant leaves out come from [strategy], not from the built-in defaults."""
    cfg = parse_config(BASE + "[strategies.contrarian60]\nthreshold = 0.60\n")
    default, variant = cfg.strategy_specs()
    assert (default.name, variant.name) == ("default", "contrarian60")
    assert variant.rule.threshold == Decimal("0.60") and default.rule.threshold == Decimal("0.55")
    assert variant.rule.stake_usd == 50 and variant.rule.max_open_positions == 7
    for key in ("action", "price_source", "max_spread", "market_selection"):
        assert getattr(variant.rule, key) == getattr(default.rule, key)


@pytest.mark.parametrize(
    ("table", "expected_usd"),
    [
        ("threshold = 0.6", Decimal(20000)),  # paper.starting_balance_usd
        ("starting_balance_usd = 500", Decimal(500)),
        ("starting_balance_usd = '1234.5'", Decimal("1234.5")),
    ],
)
def test_a_variant_deposit_defaults_to_the_paper_balance(table: str, expected_usd: Decimal) -> None:
    """starting_balance_usd is the variant's own, else paper.starting_balance_usd."""
    cfg = parse_config(BASE + f"[strategies.v]\n{table}\n")
    assert cfg.strategy_specs()[1].starting_balance_usd == expected_usd


def test_variants_come_after_default_in_name_order() -> None:
    """strategy_specs: default first, then the variants sorted by name."""
    text = BASE + "[strategies.zeta]\n[strategies.alpha]\nthreshold = 0.7\n[strategies.mid_1]\n"
    assert [s.name for s in parse_config(text).strategy_specs()] == [
        "default",
        "alpha",
        "mid_1",
        "zeta",
    ]


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ("[strategies.default]\nthreshold = 0.6", "strategies", "name of [strategy]"),
        ('[strategies."Big One"]\nthreshold = 0.6', "strategies", "a-z"),
        ('[strategies."9lives"]\nthreshold = 0.6', "strategies", "starting with a letter"),
        ('[strategies."a|b"]\nthreshold = 0.6', "strategies", "a-z"),
        (f"[strategies.{'x' * 33}]\nthreshold = 0.6", "strategies", "1-32"),
        ("[strategies.v]\nthreshhold = 0.6", "strategies.v.threshhold", "unknown key"),
        ("[strategies.v]\nthreshold = 1.5", "strategies.v.threshold", "less than or equal"),
        ("[strategies.v]\nmax_open_positions = '3'", "strategies.v.max_open_positions", "int"),
        ("[strategies.v]\nstarting_balance_usd = 0", "strategies.v.starting_balance_usd", "> 0"),
        ("[strategies.v]\nstarting_balance_usd = 'lots'", "strategies.v.starting_balance_usd", ""),
        ("[strategies.v]\naction = 'sell'", "strategies.v.action", "buy_no"),
        ("[strategies.v]\nmin_price = 0.9", "strategies.v", "min_price"),  # over max 0.8 below
        ("[strategies]\nv = 3", "strategies.v", "object"),
    ],
)
def test_a_bad_variant_names_its_key(table: str, key: str, fragment: str) -> None:
    """Names are short slugs ("default" is reserved); values are as strict as [strategy]'s."""
    text = BASE.replace("max_open_positions = 7", "max_open_positions = 7\nmax_price = 0.8")
    with pytest.raises(ConfigError) as info:
        parse_config(text + table + "\n")
    assert info.value.key == key
    normalized = str(info.value).lower().replace("greater than 0", "> 0")
    assert fragment.lower() in normalized


def test_a_bad_strategy_key_is_reported_once_under_strategy() -> None:
    """An error in [strategy] names [strategy], not each variant that inherits it."""
    with pytest.raises(ConfigError) as info:
        parse_config("[strategy]\nthreshold = 7\n[strategies.v]\nstake_usd = 5\n")
    assert info.value.key == "strategy.threshold"


def test_decision_inputs_hold_every_strategy_and_the_shared_keys() -> None:
    """A config version records each strategy's rule and deposit plus what shapes every fill."""
    cfg = parse_config(BASE + "[strategies.v]\nthreshold = 0.7\nstarting_balance_usd = 300\n")
    inputs = json.loads(json.dumps(decision_inputs(cfg)))
    assert set(inputs["strategies"]) == {"default", "v"}
    assert inputs["strategies"]["v"]["threshold"] == "0.7"
    assert inputs["strategies"]["v"]["stake_usd"] == "50"
    assert inputs["strategies"]["v"]["starting_balance_usd"] == "300"
    assert inputs["strategies"]["default"]["starting_balance_usd"] == "20000"
    assert set(inputs) == {"strategies", "paper", "prices", "max_price_age_s", "filters"}
    assert inputs["max_price_age_s"] == cfg.schedule.price_max_age_s
    assert "starting_balance_usd" not in inputs["paper"]


# -- reload -------------------------------------------------------------------------------------


def test_adding_and_retiring_a_variant_is_one_change_each() -> None:
    """The diff names a new variant once (added) and a dropped one once (retired)."""
    old = parse_config(BASE + "[strategies.a]\nthreshold = 0.6\n")
    new = parse_config(BASE + "[strategies.b]\nthreshold = 0.7\n")
    assert diff_configs(old, new) == {
        "strategies.a": ("active", "retired"),
        "strategies.b": (None, "added"),
    }
    reload = merge_reload(old, new)
    assert (reload.added, reload.retired) == (["b"], ["a"])


def test_changing_a_variant_lists_its_keys() -> None:
    """A changed variant shows each of its changed keys, as [strategy]'s do."""
    old = parse_config(BASE + "[strategies.a]\nthreshold = 0.6\n")
    new = parse_config(BASE + "[strategies.a]\nthreshold = 0.65\n")
    assert diff_configs(old, new) == {"strategies.a.threshold": (Decimal("0.6"), Decimal("0.65"))}


def test_a_default_change_reaches_the_variants_that_inherit_it() -> None:
    """Changing [strategy].stake_usd changes it in every variant that does not set its own."""
    old = parse_config(BASE + "[strategies.a]\n[strategies.b]\nstake_usd = 10\n")
    new = parse_config(
        BASE.replace("stake_usd = 50", "stake_usd = 60")
        + ("[strategies.a]\n[strategies.b]\nstake_usd = 10\n")
    )
    assert set(diff_configs(old, new)) == {"strategy.stake_usd", "strategies.a.stake_usd"}


def _variants(*names: str) -> str:
    return "".join(f"[strategies.{name}]\nthreshold = 0.6\n" for name in names)


@pytest.mark.parametrize(
    ("old_tail", "new_tail", "refused"),
    [
        (_variants("a"), "", False),  # retire the last variant
        ("", _variants("a"), False),  # add the first
        (_variants("a", "b"), _variants("c", "d", "e"), False),  # five variant changes
        (_variants(*(f"v{i}" for i in range(9))), "", True),  # nine at once: looks truncated
    ],
)
def test_a_partial_file_may_add_or_retire_variants(
    old_tail: str, new_tail: str, refused: bool
) -> None:
    """[strategies.*] is optional: dropping a table retires that variant, which no completeness
    rule blocks; each variant counts once towards RELOAD_MAX_PARTIAL_CHANGES."""
    old, new = parse_config(BASE + old_tail), parse_config(BASE + new_tail)
    refusal = reload_refusal(old, new)
    if refused:
        assert refusal is not None and "changes 9 keys" in refusal.message
    else:
        assert refusal is None


def test_a_partial_file_that_drops_a_real_section_is_still_refused() -> None:
    """Leaving out [paper] (which the running file set) still needs a complete file."""
    old = parse_config(BASE + "[strategies.a]\n")
    new = parse_config(BASE.split("[paper]")[0] + "[strategies.a]\n")
    refusal = reload_refusal(old, new)
    assert refusal is not None and "leaves out paper" in refusal.message
