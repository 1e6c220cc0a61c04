"""Sweep specs (sweep/spec.py): parsing, normalisation, hashing, errors naming the key, bounded input."""
import subprocess
import sys
import time

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
    assert parse_spec(GOOD).hash != parse_spec({**GOOD, "params": {**GOOD["params"], "lr": 0.1}}).hash
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


# ---------------------------------------------------------------- identity and validation (issue 18, case 9)

def test_identity_is_the_computation_not_the_labels():
    base = parse_spec(GOOD)
    relabelled = parse_spec({**GOOD, "name": "renamed", "description": "a new description"})
    assert relabelled.hash == base.hash and relabelled.normalised()["name"] == "renamed"
    assert parse_spec({**GOOD, "problem": "separable"}).hash == base.hash  # the default made explicit
    assert parse_spec(with_changes("grid", "seed", [0, 2])).hash != base.hash


@pytest.mark.parametrize("where, key, value, expected", [
    ("grid", "seed", [-1], "[0, 2**63)"),
    ("grid", "seed", [0, 2**63], "[0, 2**63)"),
    ("params", "data_seed", -5, "[0, 2**63)"),
    ("params", "n", 2**70, "fits in 64 bits"),
    ("params", "lr", int("9" * 400), "fits in a 64-bit float"),
])
def test_numbers_that_do_not_fit_are_refused_with_the_key(where, key, value, expected):
    with pytest.raises(SpecError) as caught:
        parse_spec(with_changes(where, key, value))
    message = str(caught.value)
    assert key in message and expected in message and len(message) < 400


def test_seed_2_63_minus_1_is_a_seed():
    spec = parse_spec(with_changes("grid", "seed", [0, 2**63 - 1]))
    assert spec.grid["seed"] == (0, 2**63 - 1)


@pytest.mark.parametrize("section", ["params", "grid"])
def test_sections_must_be_mappings(section):
    with pytest.raises(SpecError, match=f"'{section}' must be a mapping.*got \\[\\]"):
        parse_spec(with_changes(None, section, []))


def test_unknown_keys_get_a_suggestion():
    with pytest.raises(SpecError, match="did you mean 'params'"):
        parse_spec({**GOOD, "parms": {}})
    with pytest.raises(SpecError, match="did you mean 'width'"):
        parse_spec(with_changes("grid", "widht", [4]))


@pytest.mark.parametrize("text, key", [
    ("name: a\nname: b\ngrid: {seed: [0]}\n", "name"),
    ("name: a\nparams: {n: 1, n: 50}\ngrid: {seed: [0]}\n", "n"),
    ("name: a\ngrid:\n  seed: [0]\n  seed: [1]\n", "seed"),
])
def test_duplicate_keys_are_refused(tmp_path, text, key):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=f"spec key '{key}' is given twice"):
        load_spec(path)


# ---------------------------------------------------------------- bounded input (issue 18, case 4)

LAUGHS = "[" + ",".join(["lol"] * 10) + "]"


def bomb(where: str) -> str:
    """A 'billion laughs' spec: 10 levels of 10 aliases (10**10 values once expanded), < 1 kB."""
    nested = LAUGHS.replace("[", "&a0 [", 1)
    for i in range(1, 10):
        nested = f"&a{i} [{nested}," + ",".join([f"*a{i - 1}"] * 9) + "]"
    if where == "description":
        return f"name: bomb\ndescription: {nested}\ngrid: {{seed: [0]}}\n"
    return f"name: bomb\ngrid:\n  seed: [0]\n  width: {nested}\n"


@pytest.mark.parametrize("where", ["description", "grid"])
def test_alias_bomb_is_refused_within_a_memory_ceiling(tmp_path, where):
    """Under a 1 GiB address-space limit (the unbounded parser took 9 GB), the CLI refuses
    a 'billion laughs' spec in a second, with a short one-line message, creating nothing."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(bomb(where))
    assert spec.stat().st_size < 1000
    store = tmp_path / "never.zarr"
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30)); "
            "from sweep.cli import main; sys.exit(main(sys.argv[1:]))")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code, "run", str(spec), "--store", str(store), "--serial"],
                            capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < 60
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "expands to more than" in result.stderr and len(result.stderr) < 400
    assert not store.exists()


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: r\ndescription: &r [1, *r]\ngrid: {seed: [0]}\n")
    with pytest.raises(SpecError, match="expands to more than"):
        load_spec(path)
    path.write_text("name: r\ndescription: " + "[" * 5000 + "]" * 5000 + "\ngrid: {seed: [0]}\n")
    with pytest.raises(SpecError, match="nests|more than"):
        load_spec(path)


def test_big_files_and_non_utf8_are_refused(tmp_path):
    from sweep.spec import MAX_SPEC_BYTES

    path = tmp_path / "spec.yaml"
    path.write_text("name: big\ngrid: {seed: [0]}\n#" + "x" * MAX_SPEC_BYTES)
    with pytest.raises(SpecError, match="larger than"):
        load_spec(path)
    path.write_bytes(b"name: caf\xe9\ngrid: {seed: [0]}\n")
    with pytest.raises(SpecError, match="not UTF-8 text \\(byte 0xe9 at offset 9\\)"):
        load_spec(path)


def test_grid_limit_is_checked_before_any_value_is_converted():
    huge = {"name": "huge", "grid": {"seed": list(range(1000)), "width": list(range(1, 1001)),
                                      "n": list(range(1, 1001))}}
    start = time.perf_counter()
    with pytest.raises(SpecError, match="1,000,000,000 runs \\(1000 x 1000 x 1000\\).*10,000,000"):
        parse_spec(huge)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(SpecError, match="more than the limit of 7"):
        parse_spec(GOOD, max_runs=7)
    assert parse_spec(GOOD, max_runs=8).size == 8


def test_long_values_are_cut_in_messages():
    with pytest.raises(SpecError) as caught:
        parse_spec(with_changes("params", "dataset", "x" * 10_000))
    assert len(str(caught.value)) < 400 and "..." in str(caught.value)
