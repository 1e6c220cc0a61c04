"""Sweep specs (sweep/spec.py): parsing, normalisation, hashing, and errors naming the key."""
import pytest

from sweep.problems.separable.params import SeparableParams
from sweep.spec import SpecError, load_spec, parse_spec

GOOD = {
    "name": "demo",
    "params": {"dataset": "linear_teacher", "n": 30, "d": 5, "lr": 0.05, "max_epochs": 50},
    "grid": {"seed": [0, 1], "width": [4, 16], "alpha": [0.1, 0.5]},
}


def with_changes(section: str | None, key: str, value) -> dict:
    spec = {"name": GOOD["name"], "params": dict(GOOD["params"]), "grid": dict(GOOD["grid"])}
    (spec if section is None else spec[section])[key] = value
    return spec


def test_good_spec_is_normalised():
    spec = parse_spec(GOOD)
    assert spec.dims == ("seed", "width", "alpha") and spec.shape == (2, 2, 2) and spec.size == 8
    assert spec.fixed["lr"] == 0.05 and spec.fixed["v"] == SeparableParams().v  # defaults filled in
    assert isinstance(spec.fixed["margin"], float)
    assert spec.params_at((1, 0, 1)) == SeparableParams.from_mapping({**GOOD["params"], "seed": 1, "width": 4, "alpha": 0.5})
    assert spec.all_values("width") == (4, 16) and spec.all_values("n") == (30,)


def test_hash_is_stable_and_tracks_content():
    same = {"grid": dict(GOOD["grid"]), "params": {**GOOD["params"], "v": 1.0}, "name": "demo"}  # default made explicit
    assert parse_spec(GOOD).hash == parse_spec(same).hash
    assert parse_spec(GOOD).hash != parse_spec(with_changes("params", "lr", 0.1)).hash
    reordered = {**GOOD, "grid": {"width": [4, 16], "seed": [0, 1], "alpha": [0.1, 0.5]}}
    assert parse_spec(GOOD).hash != parse_spec(reordered).hash  # the dim order is part of the sweep


def test_yaml_reads_exponents_without_a_dot_as_floats(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: e\nparams: {eps: 1e-3}\ngrid: {lr: [1e-2, 5.0e-2]}\n")
    spec = load_spec(path)
    assert spec.fixed["eps"] == 1e-3 and spec.grid["lr"] == (0.01, 0.05)


@pytest.mark.parametrize("spec, key, value", [
    (with_changes(None, "colour", "red"), "colour", "red"),                      # unknown top-level key
    (with_changes("params", "widht", 4), "widht", "4"),                          # unknown parameter
    (with_changes("grid", "sead", [0]), "sead", "[0]"),                          # unknown swept parameter
    (with_changes("params", "n", "many"), "n", "many"),                          # wrong type
    (with_changes("params", "n", 2.5), "n", "2.5"),                              # float for an int
    (with_changes("grid", "bias", [0, 1]), "bias", "0"),                         # int for a bool
    (with_changes("grid", "seed", 3), "seed", "3"),                              # not a list
    (with_changes("grid", "seed", []), "seed", "[]"),                            # empty list
    (with_changes("grid", "seed", [0, 1, 0]), "seed", "0"),                      # duplicate
    (with_changes("grid", "alpha", [0.1, 0.1]), "alpha", "0.1"),                 # duplicate float
    (with_changes("grid", "n", [30, 40]), "n", "30"),                            # in both sections
    (with_changes("grid", "alpha", [0.1, 1.5]), "alpha", "1.5"),                 # bad value in the grid
    (with_changes("params", "lr", -1.0), "lr", "-1.0"),                          # bad fixed value
    (with_changes("params", "dataset", "cifar"), "dataset", "cifar"),            # unknown data set
    (with_changes(None, "name", ""), "name", "''"),                              # empty name
    (with_changes(None, "grid", {}), "grid", "{}"),                              # nothing swept
    (with_changes(None, "params", [1, 2]), "params", "[1, 2]"),                  # section not a mapping
])
def test_bad_specs_name_the_key_and_value(spec, key, value):
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert key in str(caught.value) and value in str(caught.value)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(tmp_path / "list.yaml")


def test_huge_grids_are_validated_per_value(monkeypatch):
    import sweep.spec

    monkeypatch.setattr(sweep.spec, "FULL_VALIDATION_LIMIT", 3)
    parse_spec(GOOD)
    with pytest.raises(SpecError, match="alpha"):
        parse_spec(with_changes("grid", "alpha", [0.1, 0.2, 1.0]))
