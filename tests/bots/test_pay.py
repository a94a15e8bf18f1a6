"""``live bots stampede --product`` and ``--pay`` against a real `live serve`, and the shop's rules."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bots.plan import PayPlan, make_plan
from bots.report import EXIT_FAILED, EXIT_OK
from bots.shop import Policy, ShopResult, accounting, held_units, over_stock, stock_of
from tests.bots.runner import run_bots
from tests.bots.test_report import clean_stats, report_of
from tests.bots.test_scenarios import assert_correct, common


def order(
    oid: str, state: str, qty: int = 1, pin: str | None = "p1", product: str | None = None
) -> dict[str, Any]:
    return {"id": oid, "state": state, "qty": qty, "pin": pin, "product": product, "user": f"u{oid}"}


def test_held_units_count_reserved_and_confirmed_per_pin_or_product() -> None:
    orders = [
        order("1", "reserved", 2),
        order("2", "confirmed"),
        order("3", "cancelled", 5),
        order("4", "expired", 5),
        order("5", "reserved", 3, pin=None, product="mug"),
    ]
    assert held_units(orders) == {"p1": 3, "mug": 3}
    assert over_stock(held_units(orders), {"p1": 2, "mug": 3}) == {"p1": 1}


def test_the_accounting_adds_up_only_when_total_is_left_plus_held() -> None:
    orders = [order("1", "confirmed", 2), order("2", "expired", 4)]
    assert accounting(orders, {"p1": (10, 8)})["p1"]["ok"]
    assert not accounting(orders, {"p1": (10, 4)})["p1"][
        "ok"
    ]  # the expired units came back twice... or never
    snap = {
        "pin": {"id": "p1", "stock_total": 10, "stock_left": 8},
        "bag": [{"id": "mug", "stock_total": 5, "stock_left": 5}],
    }
    assert stock_of(snap, {"p1": 10, "mug": 5}) == {"p1": (10, 8), "mug": (5, 5)}


def test_the_shop_confirms_about_the_ratio_and_cancels_half_the_rest() -> None:
    policy = Policy(PayPlan(pay_within_s=10, confirm_ratio=0.8), random.Random(3))
    actions = [policy.decide() for _ in range(10_000)]
    confirms = sum(a == "confirm" for a, _ in actions)
    cancels = sum(a == "cancel" for a, _ in actions)
    assert 7_700 < confirms < 8_300 and 800 < cancels < 1_200
    assert all(0 <= d <= 5 for _, d in actions)


def test_plan_options_of_product_and_pay() -> None:
    plan = make_plan("stampede", viewers=10, product_id="mug", pay=True, pay_within_s=3, confirm_ratio=0.5)
    assert plan.pin is None and plan.product is not None and plan.product.stock == 10
    assert plan.pay == PayPlan(3, 0.5)
    with pytest.raises(ValueError, match="stampede"):
        make_plan("chat", pay=True)
    with pytest.raises(ValueError, match="not both"):
        make_plan("stampede", pin_id="p1", product_id="mug")
    with pytest.raises(ValueError, match="confirm-ratio"):
        make_plan("stampede", pay=True, confirm_ratio=1.5)


async def test_stampede_on_a_bag_product(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        [
            "stampede",
            *common(live_server),
            "--viewers",
            "20",
            "--duration",
            "3",
            "--ramp",
            "1",
            "--product",
            "mug",
        ],
        tmp_path / "bag.json",
    )
    assert code == 0, out
    assert_correct(report)
    sales = report["sales"]
    assert list(sales["pins"]) == ["mug"]
    assert sales["pins"]["mug"]["stock_total"] == 20 and sales["pins"]["mug"]["units_acked"] == 20
    assert set(report["errors"]) <= {"sold_out", "limit_reached"}, report["errors"]
    assert report["server"]["orders"]["acked_orders_missing"] == 0


async def test_stampede_with_a_shop_that_confirms_cancels_and_lets_orders_expire(
    live_server: Any, tmp_path: Path
) -> None:
    code, report, out = await run_bots(
        [
            "stampede",
            *common(live_server),
            "--viewers",
            "30",
            "--duration",
            "4",
            "--ramp",
            "1",
            "--pay",
            "--pay-within",
            "2",
            "--confirm-ratio",
            "0.5",
        ],
        tmp_path / "pay.json",
        timeout_s=90,
    )
    assert code == 0, out
    assert_correct(report)
    shop = report["orders"]
    states = shop["by_state"]
    assert states["reserved"] == 0 and states["confirmed"] > 0, shop
    assert states["cancelled"] + states["expired"] > 0, shop
    assert shop["held_over_stock_samples"] == 0 and shop["samples"] > 3
    [(pin_id, account)] = shop["accounting"].items()
    assert account["ok"] and account["held"] == states["confirmed"], account
    assert report["sales"]["pins"][pin_id]["units_acked"] == states["confirmed"]  # the orders that stayed
    assert report["server"]["room_stats"]["orders_by_state"] == states


def shop_summary(**changes: Any) -> dict[str, Any]:
    result = ShopResult(samples=10, by_state={"reserved": 0, "confirmed": 3, "cancelled": 1, "expired": 1})
    result.accounting = {"p1": {"stock_total": 5, "stock_left": 2, "held": 3, "ok": True}}
    return {**result.summary(), **changes}


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"held_over_stock_samples": 2}, "held_over_stock"),
        ({"accounting_mismatches": 1}, "accounting"),
        ({"settle_idempotency_violations": 1}, "settle_idempotency"),
        ({"reserved_at_end": 4}, "not_expired"),
    ],
)
def test_a_broken_promise_of_the_shop_fails_the_run(changes: dict[str, Any], check: str) -> None:
    assert report_of(clean_stats(), shop=shop_summary())["verdict"]["exit_code"] == EXIT_OK
    verdict = report_of(clean_stats(), shop=shop_summary(**changes))["verdict"]
    assert verdict["exit_code"] == EXIT_FAILED
    assert [f["check"] for f in verdict["failures"]] == [check]
