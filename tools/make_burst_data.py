"""Regenerate examples/burst/data: 60 QuickDumpNow territories and their October jobs.

Run: python tools/make_burst_data.py
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "examples" / "burst" / "data"
CITIES = ["San Diego", "Chula Vista", "Oceanside", "Escondido", "Carlsbad", "El Cajon",
          "Vista", "San Marcos", "Encinitas", "La Mesa", "Santee", "Poway", "National City",
          "Imperial Beach", "Coronado"]
AREAS = ["North", "South", "East", "West"]
JOB_TYPES = ["Furniture removal", "Garage clean-out", "Appliance haul", "Construction debris",
             "Yard waste", "Estate clean-out"]
FIRST = ["Alex", "Jordan", "Sam", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery",
         "Quinn", "Drew", "Reese"]
LAST = ["Garcia", "Nguyen", "Patel", "Smith", "Kim", "Lopez", "Chen", "Brown", "Rivera",
        "Davis"]


def main() -> None:
    rng = random.Random(60)
    OUT.mkdir(parents=True, exist_ok=True)
    territories = []
    for n in range(60):
        city = CITIES[n % len(CITIES)]
        area = AREAS[n // len(CITIES)]
        first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
        tid = f"T{n + 1:03d}"
        territories.append({
            "territory_id": tid,
            "territory": f"{city} {area}",
            "manager": f"{first} {last}",
            "manager_email": f"{first.lower()}.{last.lower()}.{tid.lower()}@example.com",
            "trucks": 1 + n % 3,
            "target_jobs": 60 + 10 * (n % 4),
        })
    with (OUT / "territories.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(territories[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(territories)
    with (OUT / "jobs.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["job_id", "territory_id", "date", "job_type", "amount", "on_time"])
        job = 0
        for t in territories:
            volume = int(t["target_jobs"] * rng.uniform(0.7, 1.2))
            for _ in range(volume):
                job += 1
                day = dt.date(2026, 10, 1) + dt.timedelta(days=rng.randrange(31))
                kind = rng.choice(JOB_TYPES)
                amount = round(rng.uniform(120, 650), 2)
                on_time = "yes" if rng.random() < 0.88 else "no"
                w.writerow([f"J{job:05d}", t["territory_id"], day.isoformat(), kind, amount,
                            on_time])


if __name__ == "__main__":
    main()
