"""The HTML drift report of one batch: a PSI chart, the most drifted fields' distributions, a table.

One self-contained file (plots embedded as PNG), logged to MLflow with the batch's drift run.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from readmission import drift

PLOTTED_FEATURES = 6


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _psi_chart(results: Sequence[drift.FeatureDrift], threshold: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r.psi)
    figure, axis = plt.subplots(figsize=(8, max(4, 0.22 * len(ordered))))
    colours = ["tab:red" if r.psi >= threshold else "tab:blue" for r in ordered]
    axis.barh([r.feature for r in ordered], [r.psi for r in ordered], color=colours)
    axis.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    axis.set_xlabel("PSI")
    axis.legend(loc="lower right")
    return _png(figure)


def _distribution_chart(feature: str, reference: Mapping[str, float], batch: Mapping[str, float]) -> str:
    import matplotlib.pyplot as plt

    buckets = sorted(set(reference) | set(batch), key=lambda b: -reference.get(b, 0.0))[:25]
    figure, axis = plt.subplots(figsize=(8, 3))
    positions = range(len(buckets))
    axis.bar([p - 0.2 for p in positions], [reference.get(b, 0.0) for b in buckets], width=0.4, label="training")
    axis.bar([p + 0.2 for p in positions], [batch.get(b, 0.0) for b in buckets], width=0.4, label="batch")
    axis.set_xticks(list(positions), buckets, rotation=60, ha="right", fontsize=7)
    axis.set_ylabel("share")
    axis.set_title(feature)
    axis.legend()
    return _png(figure)


def render(
    title: str,
    frame: pd.DataFrame,
    reference: Mapping[str, Any],
    results: Sequence[drift.FeatureDrift],
    threshold: float,
) -> str:
    """The report as one HTML document."""
    summary = drift.summary(results, threshold)
    top = sorted(results, key=lambda r: -r.psi)[:PLOTTED_FEATURES]
    charts = [
        (
            r.feature,
            _distribution_chart(
                r.feature, reference["features"][r.feature]["shares"], drift.shares(frame, reference, r.feature)
            ),
        )
        for r in top
    ]
    rows = "".join(
        f"<tr{' class=drift' if r.psi >= threshold else ''}><td>{html.escape(r.feature)}</td><td>{r.psi:.3f}</td>"
        f"<td>{r.unseen_share:.2%}</td><td>{r.missing_rate:.2%}</td><td>{r.reference_missing_rate:.2%}</td>"
        f"<td>{html.escape(r.note)}</td></tr>"
        for r in sorted(results, key=lambda r: -r.psi)
    )
    images = "".join(
        f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="data:image/png;base64,{png}">'
        for name, png in charts
    )
    drifted = ", ".join(summary["drifted"]) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
tr.drift{{background:#fdd}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(frame)} rows against {reference.get("rows", "?")} training rows (model version
{html.escape(str(reference.get("model_version")))}). Largest PSI {summary["max_psi"]:.3f}
({html.escape(str(summary["max_feature"]))}); drifted (PSI &ge; {threshold:g}): {html.escape(drifted)}.</p>
<h2>PSI per field</h2><img alt="PSI per field" src="data:image/png;base64,{_psi_chart(results, threshold)}">
<h2>Most drifted fields</h2>{images}
<h2>Every field</h2><table><tr><th>field</th><th>PSI</th><th>unseen in training</th><th>missing</th>
<th>missing in training</th><th>note</th></tr>{rows}</table>
</body></html>
"""
