"""Self-supervised audio-visual synchronization: is the audio in sync with the video, and by how much?

Owens & Efros (ECCV 2018, the multisensory fused network with shifted-audio negatives), Korbar
et al. (NeurIPS 2018, AVTS: hard negatives and a curriculum), Arandjelović & Zisserman (ICCV 2017,
L3-Net correspondence):

* :mod:`~avlearn.tasks.sync.task`: the objectives, the collapse guard, the ``task`` and ``data``
  sections and the builder;
* :mod:`~avlearn.tasks.sync.data`: shifted pairs cut from decoded clips, the frozen test pairs;
* :mod:`~avlearn.tasks.sync.evaluate`: offset estimation measured on a frozen list;
* :mod:`~avlearn.tasks.sync.inference`: the offset of a whole file (SyncNet-style search, streamed);
* :mod:`~avlearn.tasks.sync.reliability`: whether to trust it (a calibrated confidence threshold);
* :mod:`~avlearn.tasks.sync.fix`: the file re-synchronized (video packets copied, audio re-timed).
"""

from avlearn.tasks.sync import task as _task
from avlearn.tasks.sync import inference as _inference
from avlearn.tasks.sync import evaluate as _evaluate
from avlearn.tasks.sync import data as _data
from avlearn.tasks.sync import fix as _fix
from avlearn.tasks.sync import reliability as _reliability
from avlearn.tasks.sync.data import (
    ChannelView,
    FrozenPairDataset,
    ShiftedPairDataset,
    WindowPairs,
    av_clips,
    cut_pair,
    load_sync_list,
    sample_shift,
    shift_audio,
    shifted_pair,
)
from avlearn.tasks.sync.evaluate import evaluate_offsets
from avlearn.tasks.sync.fix import shift_audio_file
from avlearn.tasks.sync.inference import (
    SyncResult,
    estimate_offset,
    score_shifts,
    sync_file,
    sync_inputs,
    sync_scores,
    window_scores,
)
from avlearn.tasks.sync.reliability import (
    DEFAULT_THRESHOLD,
    RELIABILITY_FILE,
    calibrate_reliability,
    judge,
    load_reliability,
    pick_threshold,
    reliability_path,
    unreliable_reason,
)
from avlearn.tasks.sync.task import (
    PredictionBalanceMonitor,
    SyncCollapseError,
    SyncConfig,
    SyncData,
    SyncTask,
    build_sync_datasets,
    build_sync_task,
    contrastive_loss,
    sync_bce_loss,
)

__all__ = [
    *_task.__all__,
    *_inference.__all__,
    *_evaluate.__all__,
    *_data.__all__,
    *_reliability.__all__,
    *_fix.__all__,
]
