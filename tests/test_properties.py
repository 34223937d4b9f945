"""Property-based tests (hypothesis) of the config: parsing round trips and rejects wrong types.
(The retina's property test is in test_retina.py, with its one reference.)"""

import dataclasses
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.canvas import BENCHMARKS
from ram.training.config import FLOAT_TEXT, Config, ConfigError, from_dict, load_config, parse_override, save_config, to_dict

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# valid values for a set of keys whose ranges are independent of each other
VALID = {
    "data.benchmark": st.sampled_from(sorted(BENCHMARKS)),
    "data.val_size": st.integers(1, 5000),
    "data.canvas_seed": st.integers(0, 2**32 - 1),
    "model.glimpse_size": st.integers(1, 16),
    "model.scales": st.integers(1, 3),  # 16 * 2**2 = 64 <= 4 * 28: always a legal patch
    "model.glimpses": st.integers(1, 16),
    "model.hidden": st.integers(1, 1024),
    "model.core": st.sampled_from(["rnn", "lstm"]),
    "model.loc_std": st.floats(1e-4, 10, allow_nan=False),
    "model.start": st.sampled_from(["center", "random"]),
    "train.epochs": st.integers(1, 10**6),
    "train.batch_size": st.integers(1, 4096),
    "train.lr": st.floats(1e-5, 10),  # >= the default lr_min
    "train.weight_decay": st.floats(0, 1),
    "train.grad_clip": st.floats(0, 100),
    "train.seed": st.integers(0, 2**32 - 1),
    "train.device": st.sampled_from(["auto", "cpu", "cuda", "cuda:3"]),
    "train.checkpoint_every": st.integers(0, 10**5),
    "eval.mc_samples": st.integers(1, 100),
    "eval.select": st.sampled_from(["deterministic", "single"]),
}
FIELD_TYPES = {f"{s.name}.{f.name}": f.type for s in dataclasses.fields(Config)
               for f in dataclasses.fields(s.default_factory())}


def get(cfg: Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def as_text(value) -> str:
    """How a user would type the value on the command line."""
    return repr(value) if isinstance(value, float) else str(value)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(VALID)), st.none(), min_size=1).flatmap(
    lambda keys: st.fixed_dictionaries({k: VALID[k] for k in keys})))
def test_overrides_round_trip(tmp_path_factory, values):
    cfg = load_config(None, [f"{k}={as_text(v)}" for k, v in values.items()])
    for key, value in values.items():
        assert get(cfg, key) == value, key
    # and the saved config.yaml reads back to the same config, as a file and as a plain dict
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    save_config(cfg, path)
    assert to_dict(load_config(path)) == to_dict(cfg) == to_dict(from_dict(yaml.safe_load(path.read_text())))


def wrong_values(annotation: str):
    """Values of a type the field does not take."""
    if annotation == "int":
        return st.one_of(st.booleans(), st.floats().filter(lambda x: not float(x).is_integer()), st.text(max_size=8),
                         st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))
    if annotation == "float":
        return st.one_of(st.booleans(), st.text(max_size=8).filter(lambda s: not FLOAT_TEXT.fullmatch(s.strip())),
                         st.lists(st.floats(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))
    if annotation == "bool":
        return st.one_of(st.integers(), st.floats(), st.text(max_size=8), st.lists(st.booleans(), max_size=2))
    return st.one_of(st.booleans(), st.lists(st.text(max_size=3), max_size=2),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


@FAST
@given(st.sampled_from(sorted(FIELD_TYPES)).flatmap(lambda key: st.tuples(st.just(key), wrong_values(FIELD_TYPES[key]))))
def test_wrong_types_are_rejected_with_the_key_named(case):
    key, value = case
    section, name = key.split(".")
    with pytest.raises(ConfigError) as e:
        from_dict({section: {name: value}})
    assert key in str(e.value) and "\n" not in str(e.value)


@FAST
@given(st.sampled_from(sorted(FIELD_TYPES)), st.sampled_from(["[1, 2]", "{a: 1}", "true"]))
def test_wrong_types_on_the_command_line_are_rejected(key, text):
    if FIELD_TYPES[key] == "bool" and text == "true":
        return
    with pytest.raises(ConfigError, match=rf"override '{key}=.*': {key}: expected"):
        load_config(None, [f"{key}={text}"])


@FAST
@given(st.sampled_from(sorted(FIELD_TYPES)), st.data())
def test_misspelt_keys_get_a_valid_suggestion(key, data):
    i = data.draw(st.integers(key.index(".") + 1, len(key) - 1))
    typo = key[:i] + key[i + 1:]  # one letter dropped
    if typo in FIELD_TYPES or typo.endswith("."):
        return
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"{typo}=1"])
    message = str(e.value)
    assert f"unknown key {typo!r}" in message
    suggestion = message.rsplit("did you mean ", 1)[-1].rstrip("?")
    assert suggestion in FIELD_TYPES, message


def test_override_parsing_is_nested_yaml():
    assert parse_override("model.hidden=64") == {"model": {"hidden": 64}}
    assert parse_override("data.data_dir=") == {"data": {"data_dir": None}}
    assert math.isclose(load_config(None, ["model.loc_std=1e-1"]).model.loc_std, 0.1)


def test_every_key_carries_its_help_and_a_resolved_type():
    import dataclasses
    import typing

    from ram.training.config import keys

    cfg = Config()
    for key, value, rule in keys(cfg):
        assert rule.get("help"), f"{key} has no help next to it"
    for section in dataclasses.fields(cfg):
        hints = typing.get_type_hints(type(getattr(cfg, section.name)))
        assert all(not isinstance(t, str) for t in hints.values())  # no annotation is read with eval
