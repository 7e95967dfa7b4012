"""TAL-Net: proposal-based temporal action localization over a sequence of clip features.

Chao, Vijayanarasimhan, Seybold, Ross, Deng & Sukthankar, "Rethinking the Faster R-CNN
Architecture for Temporal Action Localization" (CVPR 2018), following Faster R-CNN (Ren et al.,
NeurIPS 2015) in one dimension:

* **Multi-scale anchors with receptive field alignment** (Sec. 3.1, Fig. 3): for each anchor
  scale ``s`` (segments of ``s`` feature steps centred on every step) a separate sub-network
  looks at the features through a max-pool and two dilated temporal convolutions (kernel 3,
  dilation ``r1 = s'/6`` and ``r2 = 2 r1``), so its receptive field ``1 + 2 r1 + 2 r2 ≈ s'``
  matches the anchor. ``s' = s (1 + 2 context)`` includes the context of Sec. 3.2 (with the
  default ``context = 0.5`` the field is twice the anchor); rates are rounded and at least 1.
* **Proposal head**: per anchor, an actionness logit (action vs background) and a boundary
  regression ``(dc, dl)``: centre offset in anchor lengths and log length ratio (Faster R-CNN's
  parameterisation, Eq. 2 there, in 1D; :func:`encode_segments` / :func:`decode_segments`).
* **Proposal selection**: decoded segments clipped to the sequence, 1D NMS on the actionness
  (:func:`avlearn.metrics.detection.nms_1d`), the top ``num_proposals`` kept.
* **Classification with context** (Sec. 3.2-3.3): each proposal is extended by ``context`` of
  its length on each side and pooled into ``roi_bins`` bins by 1D RoIAlign (bilinear sampling,
  :func:`torchvision.ops.roi_align` on a height-1 map), then two fully connected layers give
  ``num_classes`` logits (class 0 is background, as ``num_classes`` in torchvision's Faster
  R-CNN) and a class-specific boundary refinement of the proposal.

:meth:`TALNet.loss` trains both stages (actionness BCE + smooth-L1 regression on anchors labelled
by tIoU >= 0.7 / < 0.3, and cross-entropy + smooth-L1 refinement on proposals labelled by
tIoU >= 0.5); :meth:`TALNet.detect` returns the final segments with class scores after
per-class 1D NMS. Times are in feature steps; multiply by the step's duration for seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.metrics.detection import nms_1d, temporal_iou
from avlearn.models._registry import register_model

__all__ = ["TALNet", "ScaleBranch", "encode_segments", "decode_segments", "make_anchors", "tal_net", "tal_net_tiny"]


def make_anchors(length: int, scales: Sequence[int], device=None) -> Tensor:
    """``(len(scales) * length, 2)`` anchors ``[start, end]``: for each scale, one centred on every step."""
    centres = torch.arange(length, device=device, dtype=torch.float32) + 0.5  # step t covers [t, t+1]
    return torch.cat([torch.stack([centres - s / 2, centres + s / 2], dim=-1) for s in scales])


def encode_segments(segments: Tensor, anchors: Tensor) -> Tensor:
    """Regression targets ``(..., 2)``: ``((c - c_a) / l_a, log(l / l_a))``."""
    la = anchors[..., 1] - anchors[..., 0]
    ca = (anchors[..., 0] + anchors[..., 1]) / 2
    length = (segments[..., 1] - segments[..., 0]).clamp_min(1e-6)
    c = (segments[..., 0] + segments[..., 1]) / 2
    return torch.stack([(c - ca) / la, torch.log(length / la)], dim=-1)


def decode_segments(deltas: Tensor, anchors: Tensor, max_log: float = 4.0) -> Tensor:
    """Inverse of :func:`encode_segments`: ``(..., 2)`` segments ``[start, end]``."""
    la = anchors[..., 1] - anchors[..., 0]
    ca = (anchors[..., 0] + anchors[..., 1]) / 2
    c = ca + deltas[..., 0] * la
    length = la * torch.exp(deltas[..., 1].clamp(max=max_log))
    return torch.stack([c - length / 2, c + length / 2], dim=-1)


class ScaleBranch(nn.Module):
    """Receptive-field-aligned sub-network of one anchor scale: max-pool, two dilated convs, heads."""

    def __init__(self, in_channels: int, width: int, field: float):
        super().__init__()
        r1 = max(1, round(field / 6))
        self.pool = nn.MaxPool1d(2 * (r1 // 2) + 1, stride=1, padding=r1 // 2)  # smoothing, odd kernel ~ r1
        self.conv1 = nn.Conv1d(in_channels, width, 3, padding=r1, dilation=r1)
        self.conv2 = nn.Conv1d(width, width, 3, padding=2 * r1, dilation=2 * r1)
        self.actionness = nn.Conv1d(width, 1, 1)
        self.regression = nn.Conv1d(width, 2, 1)
        self.dilations = (r1, 2 * r1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, D, T) -> (B, width, T)``."""
        x = F.relu(self.conv1(self.pool(x)))  # (B, W, T)
        return F.relu(self.conv2(x))  # (B, W, T)


class TALNet(nn.Module):
    """TAL-Net over clip features ``(B, D, T)``.

    Args:
        in_channels: feature width D.
        num_classes: classifier outputs *including* background (class 0).
        anchor_scales: anchor lengths in feature steps.
        width: channels of the scale branches.
        context: fraction of a segment added on each side for the receptive fields and the RoI.
        num_proposals: proposals kept per sequence for classification.
        proposal_nms: tIoU of the proposals' 1D NMS.
        roi_bins: 1D RoIAlign output length.
        hidden: width of the classifier's two fully connected layers.
        dropout: dropout in the classifier.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1024,
        num_classes: int = 21,
        anchor_scales: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
        width: int = 256,
        context: float = 0.5,
        num_proposals: int = 64,
        proposal_nms: float = 0.7,
        roi_bins: int = 8,
        hidden: int = 512,
        dropout: float = 0.0,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"TALNet: num_classes counts the background class and must be >= 2, got {num_classes}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.anchor_scales = tuple(int(s) for s in anchor_scales)
        self.context, self.num_proposals, self.proposal_nms = float(context), int(num_proposals), float(proposal_nms)
        self.roi_bins = int(roi_bins)
        self.branches = nn.ModuleList([ScaleBranch(in_channels, width, s * (1 + 2 * context)) for s in self.anchor_scales])
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * roi_bins, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.cls = nn.Linear(hidden, num_classes)
        self.refine = nn.Linear(hidden, 2 * num_classes)
        self.num_features = hidden
        self.feature_info = [{"module": f"branches.{i}", "num_chs": width, "reduction": 1} for i in range(len(self.branches))]
        # The proposal stage and the boundary refinement are trained by :meth:`loss`; the class
        # logits of ``forward`` reach only the classifier (proposals are selected, not differentiated).
        self.loss_only_parameters = tuple(f"branches.{n}" for n, _ in self.branches.named_parameters())
        self.loss_only_parameters += ("refine.weight", "refine.bias")
        nn.init.normal_(self.refine.weight, 0.0, 0.001)
        nn.init.zeros_(self.refine.bias)

    # ---- proposal stage -------------------------------------------------------------------
    def proposal_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Per-anchor outputs: ``anchors`` (A, 2), ``actionness`` (B, A) logits, ``deltas`` (B, A, 2)."""
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"TALNet: expected features (B, {self.in_channels}, T), got shape {tuple(x.shape)}")
        act, reg = [], []
        for branch in self.branches:
            h = branch(x)  # (B, W, T)
            act.append(branch.actionness(h)[:, 0])  # (B, T)
            reg.append(branch.regression(h).transpose(1, 2))  # (B, T, 2)
        anchors = make_anchors(x.shape[2], self.anchor_scales, device=x.device)  # (A, 2), scale-major
        return {"anchors": anchors, "actionness": torch.cat(act, 1), "deltas": torch.cat(reg, 1)}

    def select_proposals(self, segments: Tensor, scores: Tensor, length: int) -> Tensor:
        """Top ``num_proposals`` segments ``(B, P, 2)`` after clipping to ``[0, length]`` and 1D NMS
        (padded with the best suppressed ones when NMS leaves fewer)."""
        out = []
        for seg, sc in zip(segments.detach().clamp(0, length), scores.detach()):
            keep = nms_1d(seg, sc, self.proposal_nms, max_segments=self.num_proposals)
            keep_t = torch.as_tensor(keep, device=seg.device, dtype=torch.long)
            if len(keep_t) < self.num_proposals:
                rest = torch.argsort(sc, descending=True)
                rest = rest[~torch.isin(rest, keep_t)][: self.num_proposals - len(keep_t)]
                keep_t = torch.cat([keep_t, rest])
            out.append(seg[keep_t])
        return torch.stack(out)  # (B, P, 2)

    def roi_pool(self, x: Tensor, proposals: Tensor) -> Tensor:
        """1D RoIAlign of the context-extended proposals: ``(B, P, D * roi_bins)``."""
        from torchvision.ops import roi_align  # imported on first use: torchvision's import costs seconds
        b, p = proposals.shape[:2]
        ext = self.context * (proposals[..., 1] - proposals[..., 0])
        start, end = proposals[..., 0] - ext, proposals[..., 1] + ext  # (B, P) each
        zeros, ones = torch.zeros_like(start), torch.ones_like(start)
        boxes = torch.stack([start, zeros, end, ones], dim=-1)  # (B, P, 4): x = time, the map has height 1
        pooled = roi_align(x.unsqueeze(2).contiguous(), list(boxes.to(x.dtype)), (1, self.roi_bins),
                           spatial_scale=1.0, sampling_ratio=2, aligned=True)  # (B*P, D, 1, bins)
        return pooled.reshape(b, p, -1)

    # ---- the model contract ----------------------------------------------------------------
    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Both stages up to the classifier's hidden layer: the proposal outputs plus
        ``proposals`` (B, P, 2) and ``hidden`` (B, P, hidden)."""
        out = self.proposal_outputs(x)
        segments = decode_segments(out["deltas"], out["anchors"])  # (B, A, 2)
        out["proposals"] = self.select_proposals(segments, out["actionness"], x.shape[2])  # (B, P, 2)
        out["hidden"] = self.classifier(self.roi_pool(x, out["proposals"]))  # (B, P, hidden)
        return out

    def forward_head(self, feats: dict[str, Tensor], pre_logits: bool = False) -> Tensor:
        """Class logits ``(B, P, num_classes)`` of the proposals (``pre_logits``: their hidden features)."""
        return feats["hidden"] if pre_logits else self.cls(feats["hidden"])

    def forward(self, x: Tensor) -> Tensor:
        """``(B, D, T)`` features -> ``(B, P, num_classes)`` proposal class logits (0 = background)."""
        return self.forward_head(self.forward_features(x))

    # ---- training and inference -------------------------------------------------------------
    def loss(self, x: Tensor, targets: Sequence[dict[str, Tensor]], *, pos_iou: float = 0.7, neg_iou: float = 0.3,
             fg_iou: float = 0.5) -> dict[str, Tensor]:
        """The four losses of both stages.

        Args:
            x: features ``(B, D, T)``.
            targets: per sequence ``{"segments": (G, 2) in feature steps, "labels": (G,) in 1..K-1}``.
            pos_iou / neg_iou: anchors with best tIoU >= pos_iou are actions, < neg_iou background
                (the best anchor of every ground truth is an action too); others are ignored.
            fg_iou: proposals with tIoU >= fg_iou take the ground truth's class, others background.

        Returns:
            ``{"actionness", "anchor_regression", "classification", "refinement"}``.
        """
        out = self.forward_features(x)
        logits, refine = self.cls(out["hidden"]), self.refine(out["hidden"]).unflatten(-1, (self.num_classes, 2))
        act_losses, reg_losses, cls_losses, ref_losses = [], [], [], []
        for i, tgt in enumerate(targets):
            gt = tgt["segments"].to(x.dtype).reshape(-1, 2)
            labels = tgt["labels"].long().reshape(-1)
            anchors = out["anchors"]
            if len(gt):
                iou = torch.as_tensor(temporal_iou(anchors, gt), dtype=x.dtype, device=x.device)  # (A, G)
                best, idx = iou.max(1)
                pos = best >= pos_iou
                pos[iou.argmax(0)] = True
            else:
                best = torch.zeros(len(anchors), device=x.device)
                idx = torch.zeros(len(anchors), dtype=torch.long, device=x.device)
                pos = torch.zeros(len(anchors), dtype=torch.bool, device=x.device)
            valid = pos | (best < neg_iou)
            act_losses.append(F.binary_cross_entropy_with_logits(out["actionness"][i][valid], pos[valid].to(x.dtype)))
            if pos.any():
                t = encode_segments(gt[idx[pos]], anchors[pos])
                reg_losses.append(F.smooth_l1_loss(out["deltas"][i][pos], t))
            props = out["proposals"][i]  # (P, 2)
            if len(gt):
                piou = torch.as_tensor(temporal_iou(props, gt), dtype=x.dtype, device=x.device)
                pbest, pidx = piou.max(1)
                plabel = torch.where(pbest >= fg_iou, labels[pidx], torch.zeros_like(pidx))
            else:
                plabel = torch.zeros(len(props), dtype=torch.long, device=x.device)
            cls_losses.append(F.cross_entropy(logits[i], plabel))
            fg = plabel > 0
            if fg.any():
                t = encode_segments(gt[pidx[fg]], props[fg])
                ref_losses.append(F.smooth_l1_loss(refine[i][fg, plabel[fg]], t))
        zero = x.new_zeros(())
        mean = lambda v: torch.stack(v).mean() if v else zero  # noqa: E731
        return {"actionness": mean(act_losses), "anchor_regression": mean(reg_losses),
                "classification": mean(cls_losses), "refinement": mean(ref_losses)}

    @torch.no_grad()
    def detect(self, x: Tensor, *, score_threshold: float = 0.05, nms_threshold: float = 0.3,
               max_detections: int = 100) -> list[dict[str, Tensor]]:
        """Final detections per sequence: refined segments, class-wise 1D NMS.

        Returns:
            per sequence ``{"segments": (N, 2) in feature steps, "scores": (N,), "labels": (N,)}``,
            highest score first; labels in 1..K-1.
        """
        out = self.forward_features(x)
        probs = self.cls(out["hidden"]).softmax(-1)  # (B, P, K)
        refine = self.refine(out["hidden"]).unflatten(-1, (self.num_classes, 2))  # (B, P, K, 2)
        results = []
        for i in range(x.shape[0]):
            segs, scores, labels = [], [], []
            for k in range(1, self.num_classes):
                ok = probs[i, :, k] >= score_threshold
                if not ok.any():
                    continue
                seg = decode_segments(refine[i, ok, k], out["proposals"][i, ok]).clamp(0, x.shape[2])
                keep = torch.as_tensor(nms_1d(seg, probs[i, ok, k], nms_threshold), dtype=torch.long, device=x.device)
                segs.append(seg[keep])
                scores.append(probs[i, ok, k][keep])
                labels.append(torch.full((len(keep),), k, dtype=torch.long, device=x.device))
            if segs:
                seg, sc, lab = torch.cat(segs), torch.cat(scores), torch.cat(labels)
                order = sc.argsort(descending=True)[:max_detections]
                results.append({"segments": seg[order], "scores": sc[order], "labels": lab[order]})
            else:
                results.append({"segments": x.new_zeros(0, 2), "scores": x.new_zeros(0), "labels": torch.zeros(0, dtype=torch.long, device=x.device)})
        return results


@register_model(modality="features", input_size=(1024, 256), tiny_input=(1024, 32))
def tal_net(*, num_classes: int = 21, in_channels: int = 1024, **kwargs) -> TALNet:
    """TAL-Net over 1024-d clip features (I3D's), anchors of 1-64 steps, 64 proposals;
    21 outputs = THUMOS'14's 20 actions + background."""
    return TALNet(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="features", input_size=(64, 64), tiny_input=(64, 32))
def tal_net_tiny(*, num_classes: int = 5, in_channels: int = 64, **kwargs) -> TALNet:
    """CPU TAL-Net: 64-d features, anchors of 1-16 steps, 64-wide branches, 16 proposals."""
    defaults = dict(anchor_scales=(1, 2, 4, 8, 16), width=64, num_proposals=16, hidden=128, roi_bins=4)
    return TALNet(num_classes=num_classes, in_channels=in_channels, **{**defaults, **kwargs})
