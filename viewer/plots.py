"""Small plots drawn into RGB arrays with Pillow (no plotting library): the model-vs-truth
error over time and a top-down view of object trajectories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

_BG, _AXIS, _TEXT = (255, 255, 255), (150, 150, 150), (40, 40, 40)


def _canvas(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (w, h), _BG)
    return img, ImageDraw.Draw(img)


def error_plot(
    series: Mapping[str, Sequence[tuple[int, float]]],
    *,
    current: int | None = None,
    colors: Sequence[tuple[int, int, int]] = ((0, 110, 200), (220, 90, 30), (40, 160, 60)),
    size: tuple[int, int] = (320, 150),
    title: str = "PSNR (dB) vs step",
) -> np.ndarray:
    """Lines of ``(step, value)`` per named series; a vertical marker at ``current``.
    Returns ``[H, W, 3]`` uint8."""
    w, h = size
    img, d = _canvas(w, h)
    left, right, top, bottom = 34, w - 6, 16, h - 16
    d.text((left, 2), title, fill=_TEXT)
    pts = [p for s in series.values() for p in s]
    if not pts:
        d.text((left, h // 2), "no ground truth for this step / camera", fill=_AXIS)
        return np.asarray(img)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    if current is not None:
        x0, x1 = min(x0, current), max(x1, current)
    y0, y1 = np.floor(min(ys)) - 1, np.ceil(max(ys)) + 1

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / (x1 - x0) * (right - left),
            bottom - (y - y0) / (y1 - y0) * (bottom - top),
        )

    d.rectangle((left, top, right, bottom), outline=_AXIS)
    d.text((2, top - 4), f"{y1:.0f}", fill=_TEXT)
    d.text((2, bottom - 8), f"{y0:.0f}", fill=_TEXT)
    d.text((left, bottom + 2), f"{x0}", fill=_TEXT)
    d.text((right - 24, bottom + 2), f"{x1}", fill=_TEXT)
    if current is not None:
        cx = to_px(current, y0)[0]
        d.line((cx, top, cx, bottom), fill=(200, 200, 200))
    for i, (name, s) in enumerate(series.items()):
        col = colors[i % len(colors)]
        s = sorted(s)
        line = [to_px(x, y) for x, y in s]
        if len(line) > 1:
            d.line(line, fill=col, width=2)
        for x, y in line:
            d.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=col)
        d.text((left + 60 + 70 * i, 2), name, fill=col)
    return np.asarray(img)


def trajectory_plot(
    model: np.ndarray,
    colors: Sequence[tuple[int, int, int]],
    *,
    truth: np.ndarray | None = None,
    labels: Sequence[str] = (),
    size: tuple[int, int] = (320, 240),
) -> np.ndarray:
    """Top-down (x, y) trajectories. ``model [T, K, 3]`` (solid lines, a dot at the last
    step), ``truth [T', K, 3]`` (thin grey-tinted lines) or ``None``; ``colors`` per object.
    Returns ``[H, W, 3]`` uint8."""
    w, h = size
    img, d = _canvas(w, h)
    d.text((4, 2), "trajectories, top view (x right, y up)", fill=_TEXT)
    arrays = [a for a in (model, truth) if a is not None and a.size]
    if not arrays:
        return np.asarray(img)
    xy = np.concatenate([a[..., :2].reshape(-1, 2) for a in arrays])
    lo, hi = xy.min(0), xy.max(0)
    span = float(max(hi - lo).max()) if len(xy) else 1.0
    span = max(span, 0.2) * 1.15
    mid = (lo + hi) / 2
    pad, top = 8, 16
    scale = min(w - 2 * pad, h - top - pad) / span

    def to_px(p: np.ndarray) -> list[tuple[float, float]]:
        return [(w / 2 + (x - mid[0]) * scale, (h + top) / 2 - (y - mid[1]) * scale) for x, y in p]

    if truth is not None:
        for k in range(truth.shape[1]):
            c = tuple(int(v * 0.4 + 150) for v in colors[k % len(colors)])
            pts = to_px(truth[:, k, :2])
            if len(pts) > 1:
                d.line(pts, fill=c, width=1)
    for k in range(model.shape[1]):
        c = colors[k % len(colors)]
        pts = to_px(model[:, k, :2])
        if len(pts) > 1:
            d.line(pts, fill=c, width=2)
        x, y = pts[-1]
        d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=c)
        if k < len(labels):
            d.text((x + 4, y - 5), labels[k], fill=c)
    d.text((4, h - 12), f"{span / 1.15:.2f} m across", fill=_AXIS)
    return np.asarray(img)


__all__ = ["error_plot", "trajectory_plot"]
