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

from avlearn.tasks.localization import task as _task
from avlearn.tasks.localization import heatmaps as _heatmaps
from avlearn.tasks.localization import losses as _losses
from avlearn.tasks.localization import data as _data
from avlearn.tasks.localization import evaluate as _evaluate
from avlearn.tasks.localization import inference as _inference
from avlearn.tasks.localization.data import (
    FrozenFrameDataset,
    box_manifest_rows,
    frame_indices,
    load_localization_list,
    localization_eval_rows,
)
from avlearn.tasks.localization.evaluate import METHODS, baseline_heatmaps, results_table, score_maps, score_sums, summarize_scores
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
    *_task.__all__,
    *_heatmaps.__all__,
    *_losses.__all__,
    *_data.__all__,
    *_evaluate.__all__,
    *_inference.__all__,
]
