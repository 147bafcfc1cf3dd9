"""Viewer speed in a real browser (headless Chromium, software WebGL): prints a table.

    python benchmarks/viewer.py                    # synthetic scene: 200k Gaussians, 6 objects
    python benchmarks/viewer.py --run RUN          # any reconstruction run folder
    python benchmarks/viewer.py --run outputs/demo/run --screenshot docs/img/viewer.png

Measures (issue 7 targets): the first browser frame showing the scene after the server starts
(<= 3 s); a Step reaching the browser (<= 100 ms: from the call on the server to its websocket
frame arriving in the page; and to the page's DOM showing the new step, which comes in the
same message batch as the node poses and is applied at the next WebGL frame); playback steps
per second (>= 20: sent by the server, and distinct steps the page showed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from viewer import ViewerApp, ViewerConfig
from viewer.geometry import camera_view
from viewer.testing import browser_problem, launch_chromium, synthetic_state, write_run

# Records, in the page, when each "step N" status first shows (ms since the epoch).
_OBSERVER = """
window.__steps = {};
new MutationObserver(() => {
  for (const el of document.querySelectorAll('strong')) {
    const m = /^step (\\d+)$/.exec(el.textContent || '');
    if (m && !(m[1] in window.__steps)) window.__steps[m[1]] = Date.now();
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _first_frame_s(app, t0: float, timeout: float = 600.0) -> float:
    """Seconds from ``t0`` until the browser's render shows the scene (as many non-white
    pixels as the model's own render has opaque ones, within half)."""
    cam = app.session.cameras[app.compare_camera]
    w, h = 160, 120
    K = cam.K.clone()
    K[:2] *= w / cam.width
    from spatialwm.scene.render import Camera

    small = Camera(cam.viewmat, K, w, h, cam.name)
    want = float((app.wm.render(app.session.state, small).alpha[0] > 0.5).float().mean())
    v = camera_view(small)
    while time.perf_counter() - t0 < timeout:
        clients = list(app.server.get_clients().values())
        if clients:
            left = timeout - (time.perf_counter() - t0)
            try:
                img = clients[0].get_render(
                    h, w, wxyz=v.wxyz, position=v.position, fov=v.fov, timeout=max(left, 1.0)
                )
            except TimeoutError:
                break
            if float((img.min(-1) < 235).mean()) >= 0.5 * want:
                return time.perf_counter() - t0
        time.sleep(0.02)
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="reconstruction run (default: synthetic)")
    ap.add_argument("--gaussians", type=int, default=200_000, help="synthetic scene size")
    ap.add_argument("--steps", type=int, default=20, help="single steps timed")
    ap.add_argument("--play-seconds", type=float, default=5.0)
    ap.add_argument("--viewport", default="960x540")
    ap.add_argument("--screenshot", default=None, help="also save a page screenshot (PNG)")
    args = ap.parse_args(argv)
    problem = browser_problem()
    if problem:
        print(f"viewer benchmark: {problem}")
        return 1
    from playwright.sync_api import sync_playwright

    if args.run:
        run = Path(args.run)
    else:
        run = write_run(
            Path(tempfile.mkdtemp(prefix="spatialwm-viewer-bench-")) / "run",
            synthetic_state(args.gaussians, sixth=True),
        )
    vw, vh = (int(x) for x in args.viewport.split("x"))
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": vw, "height": vh})
        page.add_init_script(_OBSERVER)
        sockets: list = []
        page.on("websocket", lambda ws: sockets.append(ws))
        t = time.perf_counter()
        app = ViewerApp.load(run, config=ViewerConfig(port=0, verbose=False))
        t_load = time.perf_counter() - t
        t0 = time.perf_counter()
        app.start()
        t_server = time.perf_counter() - t0
        try:
            page.goto(app.url)
            first = _first_frame_s(app, t0)
            s = app.wm.state
            n_obj = s.num_groups - 1

            # a Step reaching the browser: its websocket frame arriving, and the page showing it
            wire, lat = [], []
            while not sockets:  # playwright reports events while it runs
                page.wait_for_timeout(50)
            for _ in range(args.steps):
                time.sleep(0.3)  # let the comparison worker's images go out first
                with sockets[-1].expect_event("framereceived", timeout=120000):
                    t = time.time()
                    app.step()
                wire.append((time.time() - t) * 1e3)
                n = app.session.index
                page.wait_for_function(f"window.__steps['{n}'] !== undefined", timeout=120000)
                lat.append(page.evaluate(f"window.__steps['{n}']") - t * 1e3)

            # playback, as fast as it goes
            app.play_rate = 1000.0
            start, shown0 = app.session.index, app.steps_shown
            seen0 = page.evaluate("Object.keys(window.__steps).length")
            t = time.perf_counter()
            app.play()
            time.sleep(args.play_seconds)
            app.pause()
            dt = time.perf_counter() - t
            page.wait_for_timeout(500)
            server_rate = (app.steps_shown - shown0) / dt
            seen_rate = (page.evaluate("Object.keys(window.__steps).length") - seen0) / dt
            played = app.session.index - start
            if args.screenshot:  # a push and a few steps, then the page as a person sees it
                app.reset()
                app.select(min(2, n_obj))
                app.push(200.0, 1.2)
                for _ in range(5):
                    app.step()
                for client in app.server.get_clients().values():  # step back to see it all
                    cam = client.camera
                    target = np.asarray(cam.look_at)
                    cam.position = target + 1.8 * (np.asarray(cam.position) - target)
                # the "software WebGL" notice would cover the scene
                page.add_style_tag(content='[role="alert"] { display: none !important; }')
                page.wait_for_timeout(8000)
                page.screenshot(path=args.screenshot, timeout=300000)
        finally:
            app.stop()
            browser.close()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"viewer benchmark: {run} ({n_obj} objects, {len(s.gaussians):,} Gaussians); "
        f"headless Chromium {vw}x{vh}, software WebGL (SwiftShader), {cores} CPU cores"
    )
    print("| what | value | target |")
    print("|---|---|---|")
    print(f"| load the run (WorldModel.load: state, dynamics prior) | {t_load:.2f} s | |")
    print(f"| server start (listen, build and send splats, GUI) | {t_server:.2f} s | |")
    print(f"| first frame in the browser after server start | {first:.2f} s | <= 3 s |")
    wmed, med = statistics.median(wire), statistics.median(lat)
    print(
        f"| Step -> browser, websocket frame received ({n_obj} objects), median / max of "
        f"{len(wire)} | {wmed:.0f} / {max(wire):.0f} ms | <= 100 ms |"
    )
    print(
        f"| Step -> page shows it (next WebGL frame), median / max | "
        f"{med:.0f} / {max(lat):.0f} ms | |"
    )
    print(f"| playback, steps/s sent by the server ({played} steps) | {server_rate:.0f} | >= 20 |")
    print(f"| playback, distinct steps/s the page showed | {seen_rate:.0f} | |")
    ok = first <= 3 and wmed <= 100 and server_rate >= 20
    return 0 if ok and np.isfinite(first) else 1


if __name__ == "__main__":
    sys.exit(main())
