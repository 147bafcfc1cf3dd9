"""spatialwm's interactive web viewer (viser): see a reconstructed scene, act on it, play and
branch rollouts, compare with the ground truth.

    from viewer import ViewerApp
    app = ViewerApp.load("outputs/demo/run").start()   # http://127.0.0.1:8080
    app.serve_forever()

Command line: ``spatialwm view RUN [--dynamics MODEL] [--episode DATASET]``. Modules:
:mod:`viewer.session` (the pure session model), :mod:`viewer.splats` (Gaussians -> splat
buffers), :mod:`viewer.scene_sync` (state -> scene nodes), :mod:`viewer.geometry`,
:mod:`viewer.plots`, :mod:`viewer.panels` (GUI), :mod:`viewer.app` (server and threads).
Only :mod:`viewer.panels` and :mod:`viewer.app` import viser (lazily).
"""

from viewer.app import ViewerApp, ViewerConfig, check_port
from viewer.session import Branch, Session

__all__ = ["Branch", "Session", "ViewerApp", "ViewerConfig", "check_port"]
