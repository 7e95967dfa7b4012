"""Face detection for audio-visual speech: MTCNN (Zhang et al., IEEE SPL 2016) with local weights.

    >>> from avlearn.models.face import mtcnn
    >>> detector = mtcnn("path/to/mtcnn_weights")        # pnet.pt, rnet.pt, onet.pt
    >>> faces = detector.detect(frames)                  # frames: uint8 (B, H, W, 3) RGB
    >>> faces[0].boxes                                   # (N, 4) [x1, y1, x2, y2] in pixels

    >>> tracks = track_faces("talk.mp4", detector, fps=5)   # one Track per person, input pixels
    >>> tracks[0].box, tracks[0].span                    # median [x1, y1, x2, y2], (t_first, t_last)

Faces are tracked across frames by :mod:`avlearn.data.tracks`.
"""

from avlearn.models.face.mtcnn import MTCNN, FaceDetections, mtcnn
from avlearn.models.face.nets import MTCNN_FILES, ONet, PNet, RNet, load_mtcnn_weights
from avlearn.models.face.track import track_faces

__all__ = ["MTCNN", "FaceDetections", "mtcnn", "PNet", "RNet", "ONet", "load_mtcnn_weights", "MTCNN_FILES", "track_faces"]
