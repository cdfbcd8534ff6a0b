import pytest

import dataclasses

import yaml

from ganforge.config import Config, build_config, net_mismatch, parse_assignment, preset_names, read_config, save_config
from ganforge.errors import ConfigError


def test_presets_listed_and_tutorial_recipe():
    assert {"default", "dcgan-mnist", "dcgan-cifar10"} <= set(preset_names())
    cfg = build_config("dcgan-mnist")
    assert (cfg.dataset, cfg.batch_size, cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.latent_dim, cfg.step, cfg.epochs) == \
        ("mnist", 256, 1e-4, 1e-4, 0.5, 100, "joint", 50)
    cifar = build_config("dcgan-cifar10")
    assert (cifar.batch_size, cifar.lr_g, cifar.beta1, cifar.step, cifar.image_shape) == \
        (32, 1e-3, 0.9, "d_real_fake_g", (3, 32, 32))


def test_file_then_overrides_win(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("preset: dcgan-mnist\nepochs: 3\nlr_g: 2.0e-4\n")
    cfg = build_config(file=path, overrides={"epochs": 5})
    assert (cfg.preset, cfg.epochs, cfg.lr_g, cfg.dataset) == ("dcgan-mnist", 5, 2e-4, "mnist")


def test_saved_config_round_trips(tmp_path):
    cfg = build_config("dcgan-cifar10", overrides={"seed": 3})
    save_config(cfg, tmp_path / "config.yaml")
    assert read_config(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("overrides, words", [
    ({"lr_g": -1.0}, "lr_g"),
    ({"batch_size": "abc"}, "batch_size"),
    ({"batch_size": 0}, "batch_size"),
    ({"nonsense": 1}, "unknown config field 'nonsense'"),
    ({"step": "sideways"}, "step='sideways' is not allowed"),
    ({"image_size": 32}, "image_size"),
    ({"beta1": 1.5}, "beta1"),
    ({"augment": "color,flip"}, "unknown DiffAugment policy 'flip'"),
    ({"loss": "rpgan", "step": "d_real_fake_g"}, "use step joint or d_then_g"),
    ({"r1": -1.0}, "r1=-1.0 must be 0 (off)"),
    ({"arch": "dcgan", "image_size": 48, "channels": 3}, "makes 16, 32, 64, 128 px images"),
    # huge numbers: refused while the config is read, before anything is allocated, naming the limit
    ({"epochs": "1e12"}, "epochs=1000000000000 is above the limit of 1,000,000"),
    ({"batch_size": 10**9}, "batch_size=1000000000 is above the limit of 65,536"),
    ({"image_size": 10**5}, "image_size=100000 is above the limit of 1,024"),
    ({"latent_dim": 10**7}, "latent_dim=10000000 is above the limit of 4,096"),
    ({"g_width": 10**6}, "g_width=1000000 is above the limit of 4,096"),
    ({"n_fixed": 10**6}, "n_fixed=1000000 is above the limit of 1,024"),
    ({"epochs": 2.5}, "epochs=2.5 is not a valid int"),
])
def test_bad_values_fail_in_one_line(overrides, words):
    with pytest.raises(ConfigError) as err:
        build_config("dcgan-mnist", overrides=overrides)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_unknown_preset_and_bad_assignment():
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*dcgan-mnist"):
        build_config("nope")
    key, value = parse_assignment("lr_g=2e-4")  # YAML reads this as text; the field type decides
    assert build_config("dcgan-mnist", overrides={key: value}).lr_g == 2e-4
    assert parse_assignment("data_dir=/x") == ("data_dir", "/x")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignment("lr_g")


def test_config_defaults_are_the_default_preset_and_tutorials_list_their_own():
    assert Config() == build_config("default")  # one place for the defaults
    tutorial = build_config("dcgan-mnist")
    assert (tutorial.conditional, tutorial.ema, tutorial.g_width, tutorial.d_dropout, tutorial.leak) == (False, 0.0, 256, 0.3, 0.3)


def test_net_mismatch_names_the_first_network_field_that_differs():
    a = build_config("default").to_dict()
    assert net_mismatch(a, dict(a, lr_g=1.0, epochs=3)) is None  # training fields do not change the nets
    assert net_mismatch(a, dict(a, conditional=False)).startswith("conditional=True")
    assert f"g_width={a['g_width']} " in net_mismatch(a, dict(a, g_width=128))


def test_old_run_configs_get_their_class_count(tmp_path):
    values = dataclasses.asdict(build_config("default"))
    del values["num_classes"]  # a run folder written before num_classes was recorded
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    assert read_config(tmp_path / "config.yaml").num_classes == 10


def test_counts_written_as_floats_are_counts():
    assert build_config("dcgan-mnist", overrides={"epochs": "1e3", "batch_size": 128.0}).epochs == 1000


def test_huge_number_on_the_command_line_creates_nothing(tmp_path):
    from click.testing import CliRunner

    from ganforge.cli import cli

    result = CliRunner().invoke(cli, ["train", "--set", "epochs=1e12", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and result.stderr.strip() == (
        "error: epochs=1000000000000 is above the limit of 1,000,000; is it a typo?")
    assert not (tmp_path / "run").exists()


def test_an_empty_setting_turns_a_text_option_off_and_is_refused_for_numbers():
    folder = build_config("folder32", overrides=dict([parse_assignment("augment=")]))
    assert build_config("folder32").augment and folder.augment == ""
    with pytest.raises(ConfigError, match="lr_g must not be empty"):
        build_config("folder32", overrides=dict([parse_assignment("lr_g=")]))


def test_aux_classifier_needs_a_general_arch_and_d_then_g_when_conditional():
    with pytest.raises(ConfigError, match="aux_classifier works with arch"):
        build_config("default", overrides={"aux_classifier": 1.0})  # conditional, but the tutorial-size nets
    with pytest.raises(ConfigError, match="aux_classifier works with arch"):
        build_config("folder32", overrides={"aux_classifier": 1.0, "conditional": True, "labels": "folders",
                                            "step": "joint"})
    with pytest.raises(ConfigError, match="aux_classifier"):
        build_config("folder32", overrides={"aux_classifier": -1.0})
    # an unconditional run of a preset that carries a class weight has no classes to learn: no head, no loss
    assert build_config("folder64", overrides={"aux_classifier": 1.0}).conditional is False
