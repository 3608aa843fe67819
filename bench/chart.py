"""The PNG chart of a bench run: each cell's ratios to the ceiling, one panel a metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here
import matplotlib.pyplot as plt

PANELS = (
    ("rps_ratio", "req/s vs the ceiling (higher is better)"),
    ("p99_ms_ratio", "p99 latency vs the ceiling (lower is better)"),
    ("cpu_ms_per_request_ratio", "CPU per request vs the ceiling (lower is better)"),
)


def draw(result: dict[str, Any], path: Path) -> Path:
    """Draw ``result`` (what ``bench.run`` writes as JSON) to ``path``."""
    rows = [row for row in result["rows"] if row["scenario"] != "reference"]
    labels = [
        f"{row['site']}\n{row['target']}"
        + (f"+{row['scenario']}" if row.get("scenario") not in (None, "pages") else "")
        for row in rows
    ]
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(max(8, len(rows) * 0.9), 11))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        values = [row[key] for row in rows]
        bars = axis.bar(range(len(rows)), values, color="#4a7ab5")
        axis.axhline(
            1.0, color="#b54a4a", linewidth=1, linestyle="--", label="ceiling (plain template)"
        )
        axis.set_title(title, fontsize=10)
        axis.set_xticks(range(len(rows)), labels, fontsize=7)
        axis.bar_label(bars, fmt="%.2f", fontsize=7)
        axis.legend(fontsize=7, loc="upper right")
    settings = result["settings"]
    figure.suptitle(
        f"cms bench {result['when']}: {settings['connections']} connections, "
        f"{settings['rounds']} x {settings['duration_s']} s, workers={settings['workers']}, "
        f"{result['machine']['event_loop']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
