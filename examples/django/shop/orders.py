"""Order pricing helpers used by /orders/<id>/total/.

DELIBERATE BUG: every order gets a free "GIFT-WRAP" line (a marketing
promotion added to ``load_order``), but nobody added GIFT-WRAP to
``PRICE_LIST_CENTS``. The lookup happens three calls deep
(order_total -> line_total -> unit_price), so the traceback alone says
"KeyError: 'GIFT-WRAP'" and the interesting state (the order, the line, the
region, the running total) is in the frames' locals: exactly what replaying
under a debugger is for.
"""

PRICE_LIST_CENTS = {
    "WIDGET": 1250,
    "GADGET": 4999,
    "GIZMO": 799,
}

VAT_RATES = {
    "eu": 0.20,
    "uk": 0.20,
    "us": 0.0,
}

REGIONS = ("eu", "uk", "us")


def load_order(order_id):
    """Stand-in for a database lookup: a deterministic order for any id."""
    return {
        "id": order_id,
        "customer": "customer-%d" % (order_id % 7),
        "region": REGIONS[order_id % len(REGIONS)],
        "lines": [
            {"sku": "WIDGET", "quantity": 1 + order_id % 3},
            {"sku": "GADGET", "quantity": 1},
            # The promotion that causes the bug (see the module docstring).
            {"sku": "GIFT-WRAP", "quantity": 1, "promo": "free-gift-wrap"},
        ],
    }


def unit_price(sku, region):
    base_cents = PRICE_LIST_CENTS[sku]  # KeyError for "GIFT-WRAP"
    vat_rate = VAT_RATES[region]
    return round(base_cents * (1 + vat_rate))


def line_total(line, region):
    quantity = line["quantity"]
    price = unit_price(line["sku"], region)
    return price * quantity


def order_total(order):
    running_total = 0
    for position, line in enumerate(order["lines"], start=1):
        running_total += line_total(line, order["region"])
    return {"order": order["id"], "lines": position, "total_cents": running_total}
