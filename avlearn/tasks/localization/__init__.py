"""Sound-source localization: where in the frame the sound comes from, one heatmap per frame.

Audio-visual attention (Arandjelović & Zisserman, ECCV 2018; Senocak et al., CVPR 2018) trained
from unlabelled clips, and the class activation maps of a trained multisensory sync network
(Owens & Efros, ECCV 2018, Sec. 5), scored with the cIoU / AUC / pointing-game protocol of
Senocak et al. on the synthetic world's frozen boxes:

* :mod:`~avlearn.tasks.localization.task`: the ``task``/``data`` sections, the task, the builders;
* :mod:`~avlearn.tasks.localization.heatmaps`: CAMs and guided refinement;
* :mod:`~avlearn.tasks.localization.losses`: the correspondence objectives;
* :mod:`~avlearn.tasks.localization.data`: training windows and the frozen test frames;
* :mod:`~avlearn.tasks.localization.evaluate`: cIoU / AUC / pointing with the baselines;
* :mod:`~avlearn.tasks.localization.inference`: whole clips and files (``avlearn localize``).
"""

from avlearn.tasks.localization.data import FrozenFrameDataset, WindowDataset, frame_indices, load_localization_list
from avlearn.tasks.localization.evaluate import results_table, score_sums, summarize_scores
from avlearn.tasks.localization.heatmaps import cam_heatmaps, guided_filter, refine_heatmaps
from avlearn.tasks.localization.inference import Localizer, heatmap_panel, localize_file, localizer_from_run
from avlearn.tasks.localization.losses import background_loss, correspondence_bce, correspondence_nce
from avlearn.tasks.localization.task import (
    LocalizationConfig,
    LocalizationData,
    LocalizationTask,
    build_localization_datasets,
    build_localization_model,
    build_localization_task,
)

__all__ = [
    "LocalizationConfig",
    "LocalizationData",
    "LocalizationTask",
    "build_localization_model",
    "build_localization_task",
    "build_localization_datasets",
    "cam_heatmaps",
    "guided_filter",
    "refine_heatmaps",
    "correspondence_bce",
    "correspondence_nce",
    "background_loss",
    "load_localization_list",
    "WindowDataset",
    "FrozenFrameDataset",
    "frame_indices",
    "score_sums",
    "summarize_scores",
    "results_table",
    "Localizer",
    "localizer_from_run",
    "localize_file",
    "heatmap_panel",
]
