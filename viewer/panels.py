"""The viewer's GUI panels (viser widgets) and their callbacks, which call
:class:`viewer.app.ViewerApp` methods. Widgets are shared by every client.

Main panel: *Object* (choose; push with direction and speed; place; ghosts), *Playback* (Step
/ Play / Pause / Reset, timeline, speed, branches), *Camera* (fly to a dataset camera, orbit,
move a dataset camera to this view). A second panel docked on the left, *Compare*: the model's
render from a chosen camera beside the ground-truth frame, the error over time; and a tab
with object trajectories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from viewer.geometry import wxyz_yaw_deg

if TYPE_CHECKING:
    from viewer.app import ViewerApp


def _blank(w: int, h: int, text: str = "") -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), (235, 235, 235))
    if text:
        ImageDraw.Draw(img).text((8, h // 2 - 6), text, fill=(90, 90, 90))
    return np.asarray(img)


class Panels:
    """Builds the GUI on ``app.server.gui`` and keeps it in step with the session."""

    def __init__(self, app: ViewerApp) -> None:
        self.app = app
        gui = app.server.gui
        s = app.session
        self._quiet = False  # set while the server itself updates widget values
        gui.configure_theme(control_width="large")
        self.status = gui.add_markdown("")
        self.message = gui.add_markdown("", visible=False)

        with gui.add_folder("Object"):
            self.object = gui.add_dropdown(
                "Object", app.labels or ["(no objects)"], hint="or click an object in the scene"
            )
            self.direction = gui.add_slider(
                "Direction (deg)",
                0.0,
                360.0,
                5.0,
                0.0,
                hint="0 = +x, 90 = +y (world, ground plane)",
            )
            self.speed = gui.add_slider("Speed (m/s)", 0.0, 3.0, 0.1, 1.5)
            self.push = gui.add_button("Push", hint="set the object's velocity at this step")
            self.place_xyz = gui.add_vector3("Place at (m)", (0.0, 0.0, 0.0), step=0.01)
            self.place_yaw = gui.add_slider("Place yaw (deg)", -180.0, 180.0, 5.0, 0.0)
            self.place = gui.add_button("Place", hint="teleport the object at this step")
            self.ghosts = gui.add_checkbox(
                "Show hidden objects as ghosts",
                app.show_ghosts,
                hint="objects the compare camera cannot see, kept "
                "by the state: drawn as translucent boxes",
            )

        with gui.add_folder("Playback"):
            row = gui.add_button_group("Run", ("Step", "Play", "Pause", "Reset"))
            self.buttons = row
            self.timeline = gui.add_slider("Timeline (step)", 0, 1, 1, 0)
            self.rate = gui.add_slider(
                "Speed (steps/s)", 1.0, 60.0, 1.0, float(min(max(app.play_rate, 1.0), 60.0))
            )
            self.branch_dd = gui.add_dropdown("Branch", [b.name for b in s.branches])
            self.branch_btn = gui.add_button(
                "Branch here", hint="a counterfactual from this step; the original is kept"
            )

        with gui.add_folder("Camera", expand_by_default=False):
            self.camera = gui.add_dropdown(
                "Dataset camera", app.camera_names, initial_value=app.compare_camera
            )
            self.fly = gui.add_button("Fly to camera")
            self.orbit = gui.add_checkbox("Orbit", False)
            self.move_cam = gui.add_button(
                "Move this camera here",
                hint="a camera action: the dataset camera takes your "
                "current view from this step on (the compare panel follows it)",
            )

        # the comparison lives in its own panel, docked on the left
        self.compare_panel = gui.add_panel()
        with self.compare_panel.add_tab("Compare"):
            self.compare_dd = gui.add_dropdown(
                "Compare camera", app.camera_names, initial_value=app.compare_camera
            )
            self.views_img = gui.add_image(
                _blank(640, 240, "rendering..."), label="model | ground truth"
            )
            self.error_img = gui.add_image(app.error_image(), label="error over time", format="png")
        with self.compare_panel.add_tab("Trajectories"):
            self.traj_img = gui.add_image(
                app.trajectory_image(), label="object trajectories", format="png"
            )
        self.compare_panel.dock_left()
        self.compare_panel.set_width(380)
        self._wire()
        self._fill_place()

    # ------------------------------------------------------------------------ callbacks
    def _wire(self) -> None:
        app = self.app

        def user(fn):
            """A callback that ignores the server's own widget updates."""

            def cb(event) -> None:
                if not self._quiet:
                    fn(event)

            return cb

        @self.object.on_update
        @user
        def _(_) -> None:
            if self.object.value in app.labels:
                app.select(app.labels.index(self.object.value) + 1)
                self._fill_place()

        self.push.on_click(lambda _: app.push(self.direction.value, self.speed.value))
        self.place.on_click(lambda _: app.place(self.place_xyz.value, self.place_yaw.value))
        self.ghosts.on_update(user(lambda _: app.set_ghosts(self.ghosts.value)))

        @self.buttons.on_click
        def _(_) -> None:
            {"Step": app.step, "Play": app.play, "Pause": app.pause, "Reset": app.reset}[
                self.buttons.value
            ]()

        self.timeline.on_update(user(lambda _: app.seek(int(self.timeline.value))))
        self.rate.on_update(user(lambda _: setattr(app, "play_rate", float(self.rate.value))))

        @self.branch_dd.on_update
        @user
        def _(_) -> None:
            names = [b.name for b in app.session.branches]
            if self.branch_dd.value in names:
                app.switch_branch(names.index(self.branch_dd.value))

        self.branch_btn.on_click(lambda _: app.branch())

        @self.fly.on_click
        def _(event) -> None:
            app.fly_to(self.camera.value, None if event.client is None else [event.client])

        self.orbit.on_update(user(lambda _: app.set_orbit(self.orbit.value)))

        @self.move_cam.on_click
        def _(event) -> None:
            if event.client is not None:
                cam = event.client.camera
                app.move_camera(self.camera.value, cam.wxyz, cam.position)

        self.compare_dd.on_update(user(lambda _: app.set_compare_camera(self.compare_dd.value)))

    def _fill_place(self) -> None:
        """Pre-fill the place inputs with the selected object's pose."""
        app, s = self.app, self.app.session
        if s.selected is None:
            return
        oid = int(s.state.object_ids[s.selected])
        pose = app.wm.object_poses(s.state)[oid]
        self._quiet = True
        try:
            self.place_xyz.value = tuple(round(v, 3) for v in pose[:3])
            self.place_yaw.value = float(round(wxyz_yaw_deg(pose[3:]) / 5) * 5)
        finally:
            self._quiet = False

    # -------------------------------------------------------------------------- refresh
    def refresh(self) -> None:
        """Widgets that follow the session (called under the app's lock)."""
        app, s = self.app, self.app.session
        b = s.branch
        self._quiet = True
        try:
            if s.selected is not None and app.labels:
                self.object.value = app.labels[s.selected - 1]
            names = [br.name for br in s.branches]
            if tuple(self.branch_dd.options) != tuple(names):
                self.branch_dd.options = names
            self.branch_dd.value = b.name
            hi = max(b.last, b.start + 1)
            if b.start > self.timeline.max:  # keep min <= max at every moment
                self.timeline.max, self.timeline.min = hi, b.start
            else:
                self.timeline.min, self.timeline.max = b.start, hi
            self.timeline.value = s.index
        finally:
            self._quiet = False
        self.refresh_status()

    def refresh_status(self) -> None:
        app, s = self.app, self.app.session
        b = s.branch
        sel = app.labels[s.selected - 1] if s.selected else "none"
        hidden = ", ".join(app.labels[g - 1].split(": ")[0] for g in sorted(app.hidden)) or "none"
        self.status.content = (
            f"**step {s.index}** of {b.last} · {'playing' if app.playing else 'paused'} · "
            f"branch *{b.name}*  \nselected: {sel} · hidden from "
            f"{app.compare_camera}: {hidden}  \n"
            f"{len(app.wm.state.gaussians):,} Gaussians, {app.wm.state.num_groups - 1} objects"
        )

    def show_compare(self, model: np.ndarray, gt: np.ndarray | None, step: int, cam: str) -> None:
        """The model's render and, beside it, the ground truth (or why there is none)."""
        h, w = model.shape[:2]
        if gt is None:
            why = "no episode (--episode)" if self.app.dataset is None else "no frame"
            gt = _blank(w, h, f"{why}: {cam}, step {step}")
        gap = np.full((h, 4, 3), 255, dtype=np.uint8)
        self.views_img.image = np.concatenate([model, gap, gt[:h, :w]], 1)
        self.refresh_status()

    def show_plots(self) -> None:
        self.error_img.image = self.app.error_image()
        self.traj_img.image = self.app.trajectory_image()

    def show_message(self, text: str) -> None:
        self.message.content = f"**{text}**"
        self.message.visible = True


__all__ = ["Panels"]
