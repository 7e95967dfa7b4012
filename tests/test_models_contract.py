"""The input contract travels with registered models and round-trips through plain dicts."""

import math

import pytest

from avlearn.models import model_entry
from avlearn.models.contract import KINETICS400_VIDEO, InputContract


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_torchvision_variants_carry_kinetics_contract(name):
    c = model_entry(name).contract
    assert c == KINETICS400_VIDEO
    assert c.frame_size == (112, 112)
    assert c.mean == (0.43216, 0.394666, 0.37645) and c.std == (0.22803, 0.22145, 0.216989)


def test_round_trip_and_unknown_keys():
    c = InputContract(fps=16, frame_size=[64, 48], sample_rate=16000, audio_features="logmel", extra={"n_fft": 512})
    d = c.to_dict()
    assert d["frame_size"] == [64, 48]
    assert InputContract.from_dict(d) == c
    with pytest.raises(ValueError, match="unknown input-contract keys"):
        InputContract.from_dict({"fps": 1.0, "bogus": 2})


@pytest.mark.parametrize("bad", [dict(fps=math.nan), dict(fps=0), dict(frame_size=(0, 3)), dict(std=(1, 0, 1)), dict(sample_rate=0)])
def test_invalid_values_refused(bad):
    with pytest.raises(ValueError):
        InputContract(**bad)
