"""Regenerate the example project's ledger and bank balances in data/.

The example company is fictional; this script keeps its books coherent (the
ledger, the bank balances and the chart of accounts agree). The other data files
are written by hand. Run: python tools/make_example_data.py
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
MONTHS = [dt.date(2026, m, 1) for m in range(1, 11)]
ENTITIES = ["JADA", "QueenofSanDiego", "QuickDumpNow", "DangerousCentaur"]

# account_code: (base monthly amount per entity, monthly growth)
PLAN: dict[str, dict[str, tuple[float, float]]] = {
    "JADA": {
        "4000": (3200, 0.03),   # charter revenue (yacht JADA private charters)
        "6000": (18500, 0.0),   # payroll (shared services team)
        "6100": (1400, 0.0),    # contractors
        "6200": (610, 0.0),     # software & hosting
        "6300": (900, 0.02),    # marketing
        "6400": (1250, 0.0),    # insurance
        "6500": (700, 0.0),     # moorage & facilities
        "6600": (300, 0.0),     # professional fees
    },
    "QueenofSanDiego": {
        "4000": (14500, 0.045),  # direct charter bookings
        "4100": (5200, 0.06),    # OTA bookings (gross)
        "5000": (780, 0.06),     # OTA commissions
        "5100": (2100, 0.03),    # fuel & crew per trip
        "6000": (9400, 0.0),
        "6200": (420, 0.0),
        "6300": (1800, 0.02),
        "6400": (1650, 0.0),
        "6500": (2200, 0.0),
    },
    "QuickDumpNow": {
        "4200": (15400, 0.035),  # junk removal jobs
        "5200": (2900, 0.035),   # disposal & dump fees
        "5100": (1500, 0.03),    # fuel
        "6000": (8600, 0.0),
        "6200": (310, 0.0),
        "6300": (2300, 0.0),
        "6400": (980, 0.0),
    },
    "DangerousCentaur": {
        "4300": (4100, 0.05),    # merch sales
        "5300": (1650, 0.05),    # merch COGS
        "6200": (260, 0.0),
        "6300": (1200, 0.03),
        "6100": (900, 0.0),
    },
}
CAPEX = [
    (dt.date(2026, 2, 17), "QuickDumpNow", "1500", "Used box truck #2 (2019 Isuzu NPR)", 38500),
    (dt.date(2026, 4, 9), "QueenofSanDiego", "1510", "Sail and rigging refit", 14200),
    (dt.date(2026, 6, 23), "JADA", "1520", "Booking platform build (phase 1)", 9600),
    (dt.date(2026, 8, 12), "DangerousCentaur", "1520", "Storefront rebuild", 6400),
    (dt.date(2026, 9, 30), "QueenofSanDiego", "1510", "Engine overhaul", 11800),
]
FINANCING = [(dt.date(2026, 3, 2), "JADA", "2900", "Owner capital contribution", 60000)]
OPENING_CASH = {"JADA": 180000, "QueenofSanDiego": 42000, "QuickDumpNow": 52000,
                "DangerousCentaur": 9000}
MEMO = {
    "4000": "Charter bookings", "4100": "OTA bookings", "4200": "Junk removal jobs",
    "4300": "Online merch sales", "5000": "OTA commissions", "5100": "Fuel",
    "5200": "Disposal fees", "5300": "Merch cost of goods", "6000": "Payroll",
    "6100": "Contractors", "6200": "Software and hosting", "6300": "Marketing",
    "6400": "Insurance", "6500": "Moorage and facilities", "6600": "Professional fees",
}
INFLOW = {"4000", "4100", "4200", "4300", "2900"}


def money(x: float) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def main() -> None:
    rng = random.Random(20261031)
    rows = []
    for i, month in enumerate(MONTHS):
        for entity in ENTITIES:
            for code, (base, growth) in PLAN[entity].items():
                amount = base * (1 + growth) ** i * rng.uniform(0.94, 1.06)
                day = 28 if code.startswith("4") else (15 if code == "6000" else 5 + len(code) % 20)
                rows.append((month.replace(day=day), entity, code, MEMO[code], money(amount)))
    rows += [(d, e, c, m, money(a)) for d, e, c, m, a in CAPEX + FINANCING]
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    with (DATA / "ledger.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["txn_id", "date", "entity", "account_code", "memo", "amount"])
        for n, (d, e, c, m, a) in enumerate(rows, start=1):
            w.writerow([f"T{n:05d}", d.isoformat(), e, c, m, a])
    balance = {e: Decimal(OPENING_CASH[e]) for e in ENTITIES}
    with (DATA / "bank_balances.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["date", "entity", "account", "balance"])
        for month in MONTHS:
            nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            end = nxt - dt.timedelta(days=1)
            for d, e, c, _m, a in rows:
                if month <= d <= end:
                    balance[e] += a if c in INFLOW else -a
            for e in ENTITIES:
                w.writerow([end.isoformat(), e, "Operating account", balance[e]])


if __name__ == "__main__":
    main()
