"""The world model's Python API: load a reconstruction, step it under actions, roll it out,
render any step from any camera.

    wm = WorldModel.load("outputs/run")
    states = wm.rollout(wm.state, [[PushAction(2, (1.5, 0, 0))], [], []])
    views = wm.predict_views(wm.state, actions, [wm.cameras["cam0"]])

States are immutable (:class:`~spatialwm.scene.state.SceneState`); ``step`` and ``rollout``
return new ones, so a counterfactual is just another rollout from any earlier state.

Object frames. The state places each object's *canonical* frame (centred on its Gaussians,
axes of the world at reconstruction time). Actions and episodes give poses of the dataset's
object frames (the generator's: centre of mass). When the reconstructed dataset has an
episode, the model knows each object's dataset pose at step 0 and keeps the fixed transform
between the two frames, so ``place`` poses and :meth:`WorldModel.object_poses` are in the
dataset's frame; otherwise both frames are taken to be the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from spatialwm.data.actions import Action, CameraAction, PlaceAction, step_actions
from spatialwm.dynamics import PhysicsPrior, ground_proxies, proxies_from_state
from spatialwm.dynamics.model import MODES, DynamicsModel, load_model, step_dynamics
from spatialwm.dynamics.params import DynamicsParams
from spatialwm.errors import DatasetError, InputError
from spatialwm.scene.io import load_state
from spatialwm.scene.render import Camera, Rendered, render_state
from spatialwm.scene.state import SceneState, quat_conjugate, quat_multiply, quat_to_matrix

StepActions = Action | Sequence[Action] | None


def _compose(p: Tensor, q: Tensor, t: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    """Pose ``(p, q)`` followed by the local transform ``(t, r)``: ``(p + R(q) t, q r)``."""
    return p + (quat_to_matrix(q) @ t[..., None])[..., 0], quat_multiply(q, r)


class WorldModel:
    """A reconstructed scene plus its dynamics.

    Args:
        state: the initial state.
        prior: the physics prior simulating the state's objects.
        dt: seconds per step.
        cameras: named cameras (e.g. the dataset's), for convenience.
        offsets: ``{object_id: (t [3], r [4])}`` canonical frame in the dataset object frame.
        model: the dynamics model (physical parameters the prior is built with, residual
            networks); default: parameters only.
        mode: ``"prior+learned"``, ``"prior"`` or ``"learned"`` (see
            :func:`~spatialwm.dynamics.model.step_dynamics`); default: the model's own
            (``DynamicsModel.mode``, chosen on validation episodes when it was trained).
    """

    def __init__(
        self,
        state: SceneState,
        prior: PhysicsPrior,
        *,
        dt: float = 0.1,
        cameras: Mapping[str, Camera] | None = None,
        offsets: Mapping[int, tuple[Tensor, Tensor]] | None = None,
        model: DynamicsModel | None = None,
        mode: str | None = None,
    ) -> None:
        self.model = model or DynamicsModel()
        mode = self.model.mode if mode is None else mode
        if mode not in MODES:
            raise InputError(f"WorldModel: mode must be one of {MODES}, got {mode!r}")
        self._state = state
        self.mode = mode
        self.prior = prior
        self.dt = float(dt)
        self.cameras: dict[str, Camera] = dict(cameras or {})
        self.offsets = dict(offsets or {})

    # ------------------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        run: str | os.PathLike,
        dynamics: str | os.PathLike | DynamicsModel | DynamicsParams | None = None,
        *,
        mode: str | None = None,
    ) -> WorldModel:
        """Load a reconstruction run folder (``spatialwm reconstruct``'s ``--out``).

        ``dynamics``: a dynamics model file (``spatialwm train-dynamics``), a
        :class:`~spatialwm.dynamics.model.DynamicsModel`, or bare parameters (no learned
        part); ``None`` uses the default model shipped with the package (physical parameters
        and residual networks trained on generator episodes). ``mode`` picks the ablation
        (default: the model's own).
        """
        run = Path(run)
        if not run.is_dir():
            raise DatasetError(f"{run}: no such run folder")
        if isinstance(dynamics, DynamicsParams):
            model = DynamicsModel(dynamics)
        elif isinstance(dynamics, DynamicsModel):
            model = dynamics
        else:
            model = load_model(dynamics)
        state, meta = load_state(run / "state.pt")
        prior = _make_prior(state, model.params)
        cameras, offsets, dt = {}, {}, 0.1
        data = meta.get("dataset")
        if data and (Path(data) / "transforms.json").exists():
            from spatialwm.data import load_dataset

            ds = load_dataset(data, check_files=False)
            for i in ds.frames_at_step(0):
                cameras.setdefault(ds.cameras[i], Camera.from_dataset(ds, i))
            if ds.episode is not None:
                dt = ds.episode.dt
                offsets = _frame_offsets(state, ds.episode.steps[0].objects)
        return cls(state, prior, dt=dt, cameras=cameras, offsets=offsets, model=model, mode=mode)

    @property
    def params(self) -> DynamicsParams:
        """The physical parameters of the prior."""
        return self.model.params

    def with_model(self, model: DynamicsModel | DynamicsParams) -> WorldModel:
        """The same scene with another dynamics model or other physical parameters."""
        if isinstance(model, DynamicsParams):
            model = DynamicsModel(model)
        prior = (
            self.prior if model.params == self.params else _make_prior(self._state, model.params)
        )
        return WorldModel(self._state, prior, dt=self.dt, cameras=self.cameras,
                          offsets=self.offsets, model=model)  # fmt: skip

    def with_mode(self, mode: str) -> WorldModel:
        """The same scene and model stepping in another mode (an ablation)."""
        return WorldModel(self._state, self.prior, dt=self.dt, cameras=self.cameras,
                          offsets=self.offsets, model=self.model, mode=mode)  # fmt: skip

    @property
    def state(self) -> SceneState:
        """The reconstructed (initial) state."""
        return self._state

    # ------------------------------------------------------------------------ dynamics
    def step(self, state: SceneState, actions: StepActions = None) -> SceneState:
        """The next state after one step's actions (an action, a list, or None = wait).

        ``place`` poses are in the dataset's object frame (see the module docstring); camera
        actions do not change the state (cameras are passed to :meth:`render`)."""
        return step_dynamics(self.model, self.prior, state, self.canonical_actions(actions),
                             dt=self.dt, mode=self.mode)  # fmt: skip

    def canonical_actions(self, actions: StepActions) -> list[Action]:
        """A step's actions with ``place`` poses moved from the dataset's object frames to
        the state's canonical frames (what the dynamics takes)."""
        return [self._to_canonical(a) for a in step_actions(actions)]

    def rollout(self, state: SceneState, actions: Sequence[StepActions]) -> list[SceneState]:
        """``[state, step(state, actions[0]), ...]``: ``len(actions) + 1`` states."""
        states = [state]
        for a in actions:
            states.append(self.step(states[-1], a))
        return states

    # ------------------------------------------------------------------------ rendering
    def render(self, state: SceneState, camera: Camera | Sequence[Camera]) -> Rendered:
        """Render ``state`` from one camera or several of the same size: ``[C, H, W, ...]``."""
        cams = [camera] if isinstance(camera, Camera) else list(camera)
        if not cams:
            raise InputError("render: no camera given")
        w, h = cams[0].width, cams[0].height
        if any((c.width, c.height) != (w, h) for c in cams):
            raise InputError("render: cameras of one call must share an image size")
        viewmats = torch.stack([c.viewmat.float() for c in cams])
        Ks = torch.stack([c.K.float() for c in cams])
        return render_state(state, viewmats, Ks, w, h)

    def predict_views(
        self,
        state: SceneState,
        actions: Sequence[StepActions],
        cameras: Sequence[Camera],
    ) -> list[Rendered]:
        """Roll out ``actions`` and render every state (the initial one included) from
        ``cameras``; ``camera`` actions move the camera of the same name from that step on.
        Returns ``len(actions) + 1`` renders."""
        return self.render_rollout(self.rollout(state, actions), actions, cameras)

    def render_rollout(
        self,
        states: Sequence[SceneState],
        actions: Sequence[StepActions],
        cameras: Sequence[Camera],
    ) -> list[Rendered]:
        """Render the states of a rollout (``len(actions) + 1`` of them) from ``cameras``,
        moving a camera where the step's ``camera`` actions say so."""
        if len(states) != len(actions) + 1:
            raise InputError(f"render_rollout: {len(states)} states for {len(actions)} steps")
        cams = list(cameras)
        out = [self.render(states[0], cams)]
        for state, a in zip(states[1:], actions, strict=True):
            for act in step_actions(a):
                if isinstance(act, CameraAction):
                    cams = [c.moved(act.c2w) if c.name == act.camera else c for c in cams]
            out.append(self.render(state, cams))
        return out

    def observe(self, state, images, cameras, masks=None, *, actions: StepActions = None):
        """One step of object permanence (:mod:`spatialwm.track`): predict ``step(state,
        actions)``, then correct each object seen in ``images [C, H, W, 3]`` (RGB in [0, 1]) by
        render-and-compare from ``cameras`` (``C`` Cameras or names of :attr:`cameras`), with
        ``masks [C, H, W]`` anonymous instance segments if given. Unseen objects keep their
        predicted pose with a growing uncertainty; none is ever dropped. ``state``: a
        SceneState or the TrackState a previous call returned. Returns a new
        :class:`~spatialwm.track.TrackState` (``.scene`` is the SceneState). Tracking
        estimates the ground friction from the slides it sees, starting from the model's
        floor friction (``DynamicsModel.floor_friction``) (``.friction``; also the scene's
        ``friction``, which the next steps use), and from the first step of each push
        among ``actions`` that it sees."""
        from spatialwm.track import observe, push_velocities, track_state

        if isinstance(state, SceneState):  # the friction estimate starts at the model's
            state = track_state(state, friction=self.model.floor)
        predict, hidden = self.observe_dynamics(actions)
        return observe(predict, state, images, cameras, masks, known_cameras=self.cameras,
                       pushes=push_velocities(actions), predict_hidden=hidden)  # fmt: skip

    def observe_dynamics(
        self, actions: StepActions = None
    ) -> tuple[Callable[[SceneState], SceneState], Callable[[SceneState], SceneState] | None]:
        """The dynamics object permanence predicts one step with: ``(predict,
        predict_hidden)`` for :func:`~spatialwm.track.observe_step`. ``predict`` is this
        model's :meth:`step`; in mode ``prior+learned``, ``predict_hidden`` (for the objects no
        camera saw at the last step) is the physics prior alone, else ``None``. The learned
        part was trained on push episodes, where a pushed object soon meets another: on a
        free slide it bends the path and stops it short, and while an object is hidden no
        view corrects that (held-out occlusion episodes: hidden error 2.83 -> 2.53 cm, its
        sideways part 1.50 -> 0.95 cm)."""
        predict = lambda s: self.step(s, actions)  # noqa: E731
        if self.mode != "prior+learned":
            return predict, None
        prior = self.with_mode("prior")
        return predict, lambda s: prior.step(s, actions)

    # -------------------------------------------------------------------- object frames
    def object_poses(self, state: SceneState) -> dict[int, list[float]]:
        """``{object_id: [x, y, z, qw, qx, qy, qz]}`` in the dataset's object frames."""
        out = {}
        for g in range(1, state.num_groups):
            oid = int(state.object_ids[g])
            p, q = state.positions[g].double(), state.orientations[g].double()
            if oid in self.offsets:
                t, r = self.offsets[oid]
                rinv = quat_conjugate(r)
                p, q = _compose(p, q, -(quat_to_matrix(rinv) @ t), rinv)
            out[oid] = [*p.tolist(), *q.tolist()]
        return out

    def with_object_states(self, state: SceneState, objects: Mapping[int, Any]) -> SceneState:
        """``state`` with the given objects set to dataset-frame states (episode
        ``ObjectState``s: ``position``, ``quaternion`` wxyz, ``linear_velocity`` of the
        object frame's origin, ``angular_velocity``, world frame). Pure; objects not listed
        keep theirs."""
        pos, quat = state.positions.clone(), state.orientations.clone()
        lin, ang = state.linear_velocity.clone(), state.angular_velocity.clone()
        for oid, o in objects.items():
            g = state.group_of(int(oid))
            p = torch.tensor(o.position, dtype=torch.float64)
            q = torch.tensor(o.quaternion, dtype=torch.float64)
            q = q / q.norm().clamp_min(1e-12)
            v = torch.tensor(o.linear_velocity, dtype=torch.float64)
            w = torch.tensor(o.angular_velocity, dtype=torch.float64)
            if int(oid) in self.offsets:
                t, r = self.offsets[int(oid)]
                arm = quat_to_matrix(q) @ t
                p, q = p + arm, quat_multiply(q, r)
                v = v + torch.linalg.cross(w, arm)
            pos[g], quat[g], lin[g], ang[g] = p.float(), q.float(), v.float(), w.float()
        return state.replace(
            positions=pos, orientations=quat, linear_velocity=lin, angular_velocity=ang
        )

    def _to_canonical(self, action: Action) -> Action:
        if isinstance(action, PlaceAction) and int(action.object) in self.offsets:
            t, r = self.offsets[int(action.object)]
            pose = torch.tensor(action.pose, dtype=torch.float64)
            q = pose[3:] / pose[3:].norm().clamp_min(1e-12)
            p, q = _compose(pose[:3], q, t, r)
            return PlaceAction(action.object, (*p.tolist(), *q.tolist()))
        return action


def _make_prior(state: SceneState, params: DynamicsParams) -> PhysicsPrior:
    proxies = proxies_from_state(state, density=params.density, friction=params.friction,
                                 hull=params.geom != "box")  # fmt: skip
    proxies = ground_proxies(proxies, state.positions[1:], state.orientations[1:])
    return PhysicsPrior(proxies, rolling_friction=params.rolling_friction,
                        com_drop=params.com_drop, pair_friction=params.pair_friction,
                        geom=params.geom)  # fmt: skip


def _frame_offsets(state: SceneState, objects: Mapping) -> dict[int, tuple[Tensor, Tensor]]:
    """Per object, the canonical frame expressed in the dataset object frame at step 0."""
    out = {}
    for g in range(1, state.num_groups):
        oid = int(state.object_ids[g])
        if oid not in objects:
            continue
        gp = torch.tensor(objects[oid].position, dtype=torch.float64)
        gq = torch.tensor(objects[oid].quaternion, dtype=torch.float64)
        gq = gq / gq.norm()
        cp, cq = state.positions[g].double(), state.orientations[g].double()
        inv = quat_conjugate(gq)
        t = quat_to_matrix(inv) @ (cp - gp)
        out[oid] = (t, quat_multiply(inv, cq))
    return out


__all__ = ["StepActions", "WorldModel"]
