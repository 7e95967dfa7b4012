"""Detection heads over video backbones: AVA-style actor action detection, TAL-Net temporal
action localization. Builders register on import (listed in ``avlearn.models._MODEL_MODULES``)."""
