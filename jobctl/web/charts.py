"""Small bar charts drawn on the server as inline SVG: no script and no chart library in the browser."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 240
HEIGHT = 40


def bars(completed: list[int], failed: list[int], label: str) -> Markup:
    """One bar per bucket, oldest left: completed stacked under failed, scaled to the tallest bar.
    The SVG scales to its box (viewBox), so it fits a phone's width as well as a wide screen."""
    count = max(len(completed), 1)
    tallest = max((c + f for c, f in zip(completed, failed)), default=0) or 1
    step = WIDTH / count
    gap = 1 if step > 3 else 0
    parts = []
    for index, (done, bad) in enumerate(zip(completed, failed)):
        if not done and not bad:
            continue
        x = index * step
        done_h = HEIGHT * done / tallest
        bad_h = HEIGHT * bad / tallest
        tip = f"{done} completed, {bad} failed"
        parts.append(
            f"<g><title>{escape(tip)}</title>"
            f'<rect class="ok" x="{x:.1f}" y="{HEIGHT - done_h:.1f}" width="{step - gap:.1f}" '
            f'height="{done_h:.1f}"/>'
            f'<rect class="bad" x="{x:.1f}" y="{HEIGHT - done_h - bad_h:.1f}" width="{step - gap:.1f}" '
            f'height="{bad_h:.1f}"/></g>'
        )
    total_done, total_bad = sum(completed), sum(failed)
    title = f"{label}: {total_done} completed, {total_bad} failed"
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>{"".join(parts)}</svg>'
    )
