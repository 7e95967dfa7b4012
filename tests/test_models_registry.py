"""The one model registry: recipes name a registered network plus its keyword arguments.

* every ``model`` section is checked when the recipe is loaded: an unknown network or an
  argument its builder does not take is a ConfigError naming the file and ``model``;
* the networks moved from the tasks into ``avlearn.models`` keep their state-dict keys, so
  ``weights.pt`` files trained before still load: the key/shape fingerprints below were taken
  from the task classes before the move (``OLD_STATE``);
* model sections of runs saved before (network sizes at top level) are upgraded on load.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
import yaml

from avlearn.models import create_model, list_models
from avlearn.models._registry import builder_arguments, check_model_kwargs
from avlearn.tasks.base import build_task
from avlearn.train.config import ConfigError, config_from_dict, load_config

#: ``(number of keys, sha256 of the sorted "key:shape" lines)`` of each recipe's task state dict,
#: computed with the task classes as they were before the networks moved to avlearn.models.
OLD_STATE = {
    "separate_instruments": (83, "36cde1d98deea7257ca0a6bc6a8b2e1aa94256669dbe08b75dbe402f553f081d"),
    "separate_instruments_sync": (93, "7242200452d1602fe50a45ec112d42c69b5411f875ad1df444fb7ed1ef2eda39"),
    "separate_instruments_pit": (53, "cc6ef4f922e8fb696b8b55823a5d889554fd31038ae933de1d4b2b449e1c8cf2"),
    "separate_objects_cosep": (101, "1086f2d70d67c09e59d05d0d4dc9146dd76aaef576255959feb8d811eb25da35"),
    "separate_objects_pit": (53, "5bd4bd1cdd1be70485df12f3e2723d6e6a7f79e711da22790b29aea5786b1c68"),
    "separate_voices": (101, "d7fcbf19054bd73d08afadcb2a9239a32ae48219fbbb14e94a79a34a4e375d80"),
    "separate_voices_motion": (83, "36cde1d98deea7257ca0a6bc6a8b2e1aa94256669dbe08b75dbe402f553f081d"),
    "localize_attention": (104, "cd39240ae113f2c564a22ba2063d64545410a7133dc77b8a5d637e423199d9c1"),
    "localize_attention_sync": (102, "a574908dd1e8655c2e469a7723dc7d5d3dcbb905ef11b3775ef6bae3fbe98447"),
}


def _fingerprint(state: dict[str, torch.Tensor]) -> tuple[int, str]:
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(state.items()))
    return len(state), hashlib.sha256(lines.encode()).hexdigest()


@pytest.mark.parametrize("recipe", sorted(OLD_STATE))
def test_state_dict_keys_unchanged(recipe):
    overrides = ["model.weights=null"] + (["model.visual_weights=null"] if recipe.endswith("_sync") and "separate" in recipe else [])
    task = build_task(load_config(recipe, overrides))
    assert _fingerprint(task.state_dict()) == OLD_STATE[recipe]


def test_recipe_networks_are_registered():
    for recipe in OLD_STATE:
        assert load_config(recipe).model.name in list_models()
    assert load_config("avlearn/recipes/preview_skimming.yaml").model.name == "imgaud_skimming_small"


def test_builder_arguments_follow_the_class():
    assert {"sound_channels", "temporal", "visual", "conditioning"} <= builder_arguments("sound_of_pixels_small")
    assert builder_arguments("audio_only_unet_small") == {"max_outputs", "unet_levels", "unet_channels"}
    with pytest.raises(TypeError, match=r"takes no argument 'chanels' \(accepted: .*unet_channels"):
        check_model_kwargs("sound_of_pixels_small", {"chanels": 8})
    with pytest.raises(KeyError, match="unknown model"):
        check_model_kwargs("sound_of_pixel", {})


def _raw(path: str, **model) -> dict:
    raw = yaml.safe_load(open(path))
    raw["model"] = model
    return raw


def test_unknown_kwarg_or_name_is_a_config_error_at_load(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_raw("avlearn/recipes/separate_instruments.yaml", name="sound_of_pixels_small",
                                        kwargs={"unet_levles": 5})))
    with pytest.raises(ConfigError, match=r"bad\.yaml: model: kwargs: model 'sound_of_pixels_small' takes no argument 'unet_levles'"):
        load_config(path)
    path.write_text(yaml.safe_dump(_raw("avlearn/recipes/localize_attention.yaml", name="attention_loc_smal")))
    with pytest.raises(ConfigError, match=r"bad\.yaml: model: name: unknown model 'attention_loc_smal'"):
        load_config(path)


def test_task_checks_the_network_and_its_fixed_arguments():
    raw = _raw("avlearn/recipes/separate_objects_cosep.yaml", name="coseparation_small", kwargs={"classes": 3})
    with pytest.raises(ConfigError, match=r"model\.kwargs\.classes: is set by the task section"):
        build_task(config_from_dict(raw, source="r.yaml"))
    raw = _raw("avlearn/recipes/separate_objects_cosep.yaml", name="sound_of_pixels_small")
    with pytest.raises(ConfigError, match=r"model\.name: 'sound_of_pixels_small' builds a SoundOfPixelsNet; task 'coseparation'"):
        build_task(config_from_dict(raw, source="r.yaml"))


def test_old_run_recipe_upgrades_and_its_weights_load(tmp_path):
    old = yaml.safe_load(open("avlearn/recipes/separate_objects_cosep.yaml"))
    old["model"] = {"unet_levels": 3, "unet_channels": 4, "sound_channels": 4, "visual_width": 4,
                    "visual_channels": 8, "max_outputs": 3, "conditioning": "synthesizer", "weights": None, "strict": True}
    with pytest.warns(UserWarning, match="older form"):
        cfg = config_from_dict(old, source="run/config.yaml")
    assert cfg.model.name == "coseparation_small"
    assert cfg.model.kwargs == {"unet_levels": 3, "unet_channels": 4, "visual_width": 4, "visual_channels": 8}
    task = build_task(cfg)
    torch.save(task.state_dict(), tmp_path / "weights.pt")
    again = build_task(config_from_dict({**old, "model": {"name": "coseparation_small", "kwargs": cfg.model.kwargs,
                                                          "weights": str(tmp_path / "weights.pt")}}))
    assert all(torch.equal(a, b) for a, b in zip(task.state_dict().values(), again.state_dict().values()))


def test_partial_start_from_another_run_goes_through_load_pretrained(tmp_path):
    sync = create_model("multisensory_small")
    torch.save(sync.state_dict(), tmp_path / "sync.pt")
    net = create_model("attention_loc_sync_small", weights=str(tmp_path / "sync.pt"), strict=False)
    assert torch.equal(net.video_tower.stem[0].weight, sync.video_tower.stem[0].weight)
    with pytest.raises(ValueError, match="incompatible weights"):  # strict: the whole network must match
        create_model("attention_loc_sync_small", weights=str(tmp_path / "sync.pt"))


def test_feature_extraction_refuses_task_networks():
    from avlearn.tasks.features import FeatureExtractor

    with pytest.raises(ValueError, match="sound_of_pixels_small is a task network"):
        FeatureExtractor("sound_of_pixels_small")
