"""Object permanence: the observe / update loop of the world model.

``WorldModel.observe(state, images, cameras, masks=None, actions=...)`` predicts the next
state with the dynamics, then corrects it from what the cameras show:

* :mod:`.segments`: detections (anonymous instance segments, or RGB-only residual regions);
* :mod:`.associate`: which object each segment is (geometry: Mahalanobis gate + Hungarian);
* :mod:`.refine`: render-and-compare pose correction through the rasterizer;
* :mod:`.loop`: the step itself (hidden objects keep their predicted pose, their
  uncertainty grows: :mod:`.state`);
* :mod:`.surprise`: the prediction-error signal (violation of expectation);
* :mod:`.smooth`: a recorded episode's hidden runs revised once each object is seen again;
* :mod:`.evaluate`: replaying an episode, the report and the frame-by-frame baseline.
"""

from spatialwm.track.loop import StepInfo, observe, observe_step, push_velocities
from spatialwm.track.smooth import SmoothConfig, smooth_object, smooth_track
from spatialwm.track.state import TrackConfig, TrackState, track_state
from spatialwm.track.surprise import auc

__all__ = [
    "SmoothConfig",
    "StepInfo",
    "TrackConfig",
    "TrackState",
    "auc",
    "observe",
    "observe_step",
    "push_velocities",
    "smooth_object",
    "smooth_track",
    "track_state",
]
