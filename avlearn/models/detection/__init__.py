"""Detection networks: AVA-style actor action detection, TAL-Net temporal action localization,
and a CenterNet box detector (the actor boxes of the former). Builders register on import
(listed in ``avlearn.models._MODEL_MODULES``)."""
