"""Figures without matplotlib: colormaps, image grids, spectrograms and masks, heatmap videos
with their audio, SVG plots, gradient saliency, activation maximization (slow/fast motion) and a
small HTML report builder.

    >>> from avlearn.viz import Report, line_plot, write_heatmap_video, saliency
"""

from avlearn.viz.activation_max import (
    MOTION_SETTINGS,
    activation_maximization,
    save_clip_gif,
    save_clip_strip,
)
from avlearn.viz.colormap import COLORMAPS, apply_colormap, colormap_lut
from avlearn.viz.images import (
    frames_grid,
    heatmap_images,
    image_grid,
    mask_image,
    save_image,
    save_image_grid,
    save_mask,
    save_spectrogram,
    spectrogram_image,
    to_uint8_image,
)
from avlearn.viz.overlay import draw_boxes, overlay_heatmap, resize_maps, write_heatmap_video
from avlearn.viz.plots import PALETTE, line_plot, nice_ticks, save_svg, scatter_plot
from avlearn.viz.report import Report, Section
from avlearn.viz.saliency import saliency, save_saliency_grid

__all__ = [
    "apply_colormap",
    "colormap_lut",
    "COLORMAPS",
    "to_uint8_image",
    "image_grid",
    "frames_grid",
    "save_image",
    "save_image_grid",
    "heatmap_images",
    "spectrogram_image",
    "save_spectrogram",
    "mask_image",
    "save_mask",
    "resize_maps",
    "overlay_heatmap",
    "draw_boxes",
    "write_heatmap_video",
    "line_plot",
    "scatter_plot",
    "save_svg",
    "nice_ticks",
    "PALETTE",
    "Report",
    "Section",
    "saliency",
    "save_saliency_grid",
    "activation_maximization",
    "MOTION_SETTINGS",
    "save_clip_strip",
    "save_clip_gif",
]
