"""The viewer's session model: rollout timelines, branches, the current step, the selected
object and the action plan. Pure Python over :class:`~spatialwm.scene.state.SceneState`; no
viser, no threads (the app serialises calls), so it is unit-tested without a browser.

Timeline semantics (those of an episode): ``states[i]`` is the state at absolute step
``start + i``; ``actions[i]`` are the actions applied at the start of that step, which led to
``states[i + 1]``. A branch's *plan* schedules actions at absolute steps (an episode's actions
replayed by default); actions issued from the GUI apply at the step they are issued, on top of
the plan. Acting at a step in the past rewrites that branch's future; :meth:`Session.branch`
first keeps the original as its own branch (a counterfactual).

Memory: states share their Gaussian tensors (only poses and velocities differ), so a state
costs a few hundred bytes; each branch still keeps at most ``max_states`` of them (a sliding
window), so a long play session does not grow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spatialwm.data.actions import Action, CameraAction
from spatialwm.scene.render import Camera
from spatialwm.scene.state import SceneState

StepFn = Callable[[SceneState, list[Action]], SceneState]
PoseFn = Callable[[SceneState], np.ndarray]


@dataclass
class Branch:
    """One rollout timeline.

    Attributes:
        name: shown in the GUI.
        states: the kept window of states; ``states[i]`` is absolute step ``start + i``.
        start: absolute step of ``states[0]``.
        actions: ``len(states) - 1`` lists; ``actions[i]`` led ``states[i]`` to ``states[i+1]``.
        cameras: per state, every camera's pose at that step (``camera`` actions move them;
            dicts are shared between steps until one moves).
        poses: per state, ``[K, 3]`` object positions (for trajectory plots).
        plan: absolute step -> actions scheduled at that step (e.g. an episode's).
        errors: ``(absolute step, camera) -> PSNR`` of the model against ground truth.
    """

    name: str
    states: list[SceneState]
    start: int
    actions: list[list[Action]]
    cameras: list[dict[str, Camera]]
    poses: list[np.ndarray]
    plan: dict[int, list[Action]] = field(default_factory=dict)
    errors: dict[tuple[int, str], float] = field(default_factory=dict)

    @property
    def last(self) -> int:
        """Absolute step of the newest state."""
        return self.start + len(self.states) - 1

    def state_at(self, step: int) -> SceneState:
        return self.states[step - self.start]

    def cameras_at(self, step: int) -> dict[str, Camera]:
        return self.cameras[step - self.start]

    def truncate(self, step: int) -> None:
        """Drop every state after absolute ``step`` (and the errors measured there)."""
        n = step - self.start + 1
        del self.states[n:], self.cameras[n:], self.poses[n:], self.actions[n - 1 :]
        self.errors = {k: v for k, v in self.errors.items() if k[0] <= step}


class Session:
    """Rollouts of one scene under GUI actions.

    Args:
        step_fn: ``(state, actions) -> next state`` (``WorldModel.step``).
        initial: the state at step 0.
        cameras: the named cameras (their poses at step 0).
        plan: absolute step -> scheduled actions (an episode's), replayed by default.
        pose_fn: ``state -> [K, 3]`` object positions for plots (default: the state's).
        max_states: the most states a branch keeps (older ones slide out).
    """

    def __init__(
        self,
        step_fn: StepFn,
        initial: SceneState,
        *,
        cameras: Mapping[str, Camera] | None = None,
        plan: Mapping[int, Sequence[Action]] | None = None,
        pose_fn: PoseFn | None = None,
        max_states: int = 1000,
    ) -> None:
        if max_states < 2:
            raise ValueError("max_states must be >= 2")
        self.step_fn = step_fn
        self.initial = initial
        self.pose_fn = pose_fn or (lambda s: s.positions[1:].numpy().copy())
        self.max_states = int(max_states)
        self.base_cameras = dict(cameras or {})
        self._plan = {int(t): list(a) for t, a in (plan or {}).items()}
        self.branches: list[Branch] = [self._new_branch("main")]
        self.current = 0
        self.index = 0
        self.selected: int | None = 1 if initial.num_groups > 1 else None

    def _new_branch(self, name: str) -> Branch:
        return Branch(
            name,
            [self.initial],
            0,
            [],
            [self.base_cameras],
            [self.pose_fn(self.initial)],
            dict(self._plan),
        )

    # ----------------------------------------------------------------------- reading
    @property
    def branch(self) -> Branch:
        return self.branches[self.current]

    @property
    def state(self) -> SceneState:
        """The state shown: the current branch at the current step."""
        return self.branch.state_at(self.index)

    @property
    def cameras(self) -> dict[str, Camera]:
        """Every camera's pose at the current step."""
        return self.branch.cameras_at(self.index)

    @property
    def at_end(self) -> bool:
        return self.index == self.branch.last

    # ----------------------------------------------------------------------- stepping
    def step(self, actions: Sequence[Action] = ()) -> SceneState:
        """Advance one step. At the newest state: simulate, applying ``actions`` plus the
        plan's actions of this step. In the past without ``actions``: replay the next
        recorded state. In the past with ``actions``: rewrite the future from here."""
        b = self.branch
        if not self.at_end:
            if not actions:
                self.index += 1
                return self.state
            b.truncate(self.index)
        acts = list(actions) + list(b.plan.get(self.index, ()))
        new = self.step_fn(b.states[-1], acts)
        cams = b.cameras[-1]
        for a in acts:
            if isinstance(a, CameraAction) and a.camera in cams:
                cams = {**cams, a.camera: cams[a.camera].moved(a.c2w)}
        b.states.append(new)
        b.actions.append(acts)
        b.cameras.append(cams)
        b.poses.append(self.pose_fn(new))
        if len(b.states) > self.max_states:  # slide the window
            drop = len(b.states) - self.max_states
            del b.states[:drop], b.cameras[:drop], b.poses[:drop], b.actions[:drop]
            b.start += drop
            b.errors = {k: v for k, v in b.errors.items() if k[0] >= b.start}
        self.index = b.last
        return new

    def act(self, actions: Sequence[Action]) -> SceneState:
        """Apply GUI actions at the current step (one step is simulated)."""
        return self.step(list(actions))

    def seek(self, step: int) -> SceneState:
        """Show absolute ``step`` of the current branch (clamped to what it keeps)."""
        b = self.branch
        self.index = int(min(max(step, b.start), b.last))
        return self.state

    def reset(self) -> SceneState:
        """Back to step 0 of the current branch; its future is dropped (the plan stays)."""
        b = self.branch
        b.states, b.start = [self.initial], 0
        b.actions, b.cameras, b.poses = [], [self.base_cameras], [self.pose_fn(self.initial)]
        b.errors = {}
        self.index = 0
        return self.state

    # ----------------------------------------------------------------------- branches
    def branch_here(self, name: str | None = None) -> Branch:
        """Start a new branch from the current step, keeping the original intact, and make
        it current. Its states share the original's up to here."""
        b = self.branch
        n = self.index - b.start + 1
        new = Branch(
            name or f"branch {len(self.branches)} (from step {self.index})",
            b.states[:n],
            b.start,
            [list(a) for a in b.actions[: n - 1]],
            b.cameras[:n],
            b.poses[:n],
            dict(b.plan),
            {k: v for k, v in b.errors.items() if k[0] <= self.index},
        )
        self.branches.append(new)
        self.current = len(self.branches) - 1
        return new

    def switch(self, index: int) -> SceneState:
        """Make branch ``index`` current, at the same step when it has it."""
        if not 0 <= index < len(self.branches):
            raise IndexError(f"no branch {index}")
        self.current = index
        return self.seek(self.index)

    def trajectories(self, upto: int | None = None) -> np.ndarray:
        """``[T, K, 3]`` object positions of the current branch, from its first kept step up
        to ``upto`` (default: the current step)."""
        b = self.branch
        end = (self.index if upto is None else upto) - b.start + 1
        return np.stack(b.poses[:end]) if end > 0 else np.zeros((0, 0, 3))


__all__ = ["Branch", "PoseFn", "Session", "StepFn"]
