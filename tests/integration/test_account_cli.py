"""`brokerflow account add|sync|list|show|positions|fees|set` as subprocesses against the simulator."""

from __future__ import annotations

from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from activities.calendar import market_date
from domain.broker_integration.rules.accounting import next_business_day
from starter.orders import OrderClient
from tests.integration.test_cli import CliStack
from tests.integration.test_order_flow import request

CONN = "multi"


async def test_accounts_of_a_connection_from_discovery_to_fees(
        stack: CliStack, temporal_env: WorkflowEnvironment, task_queue: str) -> None:
    added = await stack.run("connection", "add", CONN, "--broker", "alpaca", "--base-url", stack.sim.base_url,
                            "--json", APCA_API_KEY_ID="SIMKEY", APCA_API_SECRET_KEY="SIMSECRET")
    assert added.code == 0, added.err
    # A second account (the simulator's cash account ACC2) joins the connection with its own key pair.
    second = await stack.run("account", "add", CONN, "--json", APCA_API_KEY_ID="SIMKEY2",
                             APCA_API_SECRET_KEY="SIMSECRET2")
    assert second.code == 0, second.err
    accounts = second.json()
    assert len(accounts) == 2 and sorted(a["account_type"] for a in accounts) == ["CASH", "MARGIN"]
    assert all(a["account_number"].startswith("*") for a in accounts)
    stored = await stack.repos.connections.get_credentials(CONN)
    assert stored is not None and [k.api_key for k in stored.additional_keys] == ["SIMKEY2"]
    again = await stack.run("account", "add", CONN, APCA_API_KEY_ID="SIMKEY2", APCA_API_SECRET_KEY="SIMSECRET2")
    assert again.code == 2 and "already on the connection" in again.err
    wrong = await stack.run("account", "add", CONN, APCA_API_KEY_ID="SIMKEY3", APCA_API_SECRET_KEY="nope")
    assert wrong.code == 1 and "nothing was stored" in wrong.err

    listed = (await stack.run("account", "list", "--json")).json()
    cash = next(a for a in listed if a["account_type"] == "CASH")
    assert Decimal(cash["buying_power"]) == Decimal(cash["settled_cash"]) == Decimal("50000")

    # An order in the cash account (named by its id) fills, and its account, positions and fees show it.
    orders = OrderClient(temporal_env.client, task_queue)
    cid = await orders.submit(request(symbol="AAPL", side="BUY", quantity=3, connection_id=CONN,
                                      account_id=cash["account_id"]))
    assert (await orders.wait(cid, timeout=30)).view.status == "FILLED"
    sold = await orders.submit(request(symbol="AAPL", side="SELL", quantity=3, connection_id=CONN,
                                       account_id=cash["account_id"]))
    assert (await orders.wait(sold, timeout=30)).view.status == "FILLED"
    shown = (await stack.run("account", "show", cash["account_id"], "--json")).json()
    # The simulator's price walks between the two orders, so the cash is the arithmetic of the two fills
    # and the sale's fees, whichever way the price went.
    (bought,) = await stack.repos.executions.list_for_order(cid)
    (sale,) = await stack.repos.executions.list_for_order(sold)
    # The sale's proceeds settle on the next business day after its trade date (the simulator's date).
    (pending,) = shown["pending_settlements"]
    assert Decimal(pending["amount"]) == sale.quantity * sale.price
    assert pending["settles_on"] == next_business_day(market_date(sale.executed_at)).isoformat()
    assert shown["reservations"] == []  # both orders ended: nothing held
    fees = (await stack.run("account", "fees", cash["account_id"], "--json")).json()
    by_order = {o["client_order_id"]: o for o in fees["orders"]}
    assert Decimal(by_order[sold]["charged"]) > 0 and by_order[sold]["flag"] is None
    assert Decimal(by_order[sold]["charged"]) == Decimal(by_order[sold]["estimated_executed"])
    assert Decimal(by_order[cid]["charged"]) == 0
    assert Decimal(fees["total_charged"]) == Decimal(by_order[sold]["charged"])
    assert Decimal(shown["cash"]) == (Decimal("50000") - bought.quantity * bought.price
                                      + sale.quantity * sale.price - Decimal(by_order[sold]["charged"]))

    positions = await stack.run("account", "positions", cash["account_id"], "--json")
    assert positions.code == 0 and positions.json() == []

    bad = await stack.run("account", "set", cash["account_id"], "--type", "MARGIN")
    assert bad.code == 2 and "only the broker" in bad.err
    roth = (await stack.run("account", "set", cash["account_id"], "--type", "IRA_ROTH", "--allow-unsettled",
                            "--json")).json()
    assert roth["account_type"] == "IRA_ROTH" and roth["allow_unsettled_funds"] is True
    assert Decimal(roth["buying_power"]) == Decimal(shown["cash"])  # limited margin spends unsettled proceeds
    synced = (await stack.run("account", "sync", CONN, "--json")).json()
    assert len(synced) == 2 and all(s["drifts"] == [] for s in synced)
    assert (await stack.repos.accounts.get(cash["account_id"])).account_type == "IRA_ROTH"  # type: ignore[union-attr]
    missing = await stack.run("account", "show", "nope")
    assert missing.code == 2 and "no account 'nope'" in missing.err
