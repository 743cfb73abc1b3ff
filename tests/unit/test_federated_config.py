"""FederationConfig: building, validation, TOML loading, round trips."""

from __future__ import annotations

import json
import math

import pytest

from gainnet.errors import GainnetError, InvalidConfigError, UnknownNameError
from gainnet.federated import (
    FederationConfig,
    SiteSpec,
    default_sites,
    federation_from_dict,
    load_federation_config,
)
from gainnet.federated.config import SITE_PROFILES


def base(**changes) -> dict:
    """Four default sites, 2 per round (the default of 5 per round needs 5 sites or more)."""
    return {"sites": default_sites(4, 100), "clients_per_round": 2, **changes}


def with_site(changes: dict, **top) -> dict:
    """:func:`base` with the first site's table changed."""
    sites = default_sites(4, 100)
    sites[0] = {**sites[0], **changes}
    return base(sites=sites, **top)


def test_default_sites_build_a_federation():
    config = federation_from_dict(base())
    assert isinstance(config, FederationConfig)
    assert len(config.sites) == 4 and all(isinstance(s, SiteSpec) for s in config.sites)
    assert [s.name for s in config.sites] == [f"site{i}-{SITE_PROFILES[i][0]}" for i in range(4)]
    assert all(s.num_labels == 100 for s in config.sites)
    assert all(
        0 <= s.mean_snr_db <= 25 and 20 <= s.compute_steps_per_s <= 200 for s in config.sites
    )
    assert config.sites[1].params == dict(SITE_PROFILES[1][1])
    assert default_sites(4, 100) == default_sites(4, 100)  # seeded
    assert default_sites(4, 100, seed=1) != default_sites(4, 100)


def test_to_dict_round_trip():
    config = federation_from_dict(
        with_site(
            {"drift_round": 2, "drift_params": {"gain_low": 0.1}, "energy_budget_j": 50.0},
            rounds=3,
            selection="gainnet",
            aggregator="krum",
            audit=True,
        )
    )
    assert federation_from_dict(config.to_dict()) == config
    assert federation_from_dict(json.loads(config.to_json())) == config
    assert config.replace(rounds=7).rounds == 7


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(
            base(sites=default_sites(1, 100), clients_per_round=1),
            InvalidConfigError,
            id="one-site",
        ),
        pytest.param(base(sites=[]), InvalidConfigError, id="no-sites"),
        pytest.param({"clients_per_round": 1}, InvalidConfigError, id="sites-missing"),
        pytest.param(base(sites="site0"), InvalidConfigError, id="sites-a-string"),
        pytest.param(base(sites=[1, 2]), InvalidConfigError, id="site-not-a-table"),
        pytest.param(base(clients_per_round=5), InvalidConfigError, id="m-over-n"),
        pytest.param(base(clients_per_round=0), InvalidConfigError, id="m-zero"),
        pytest.param(base(bogus=1), UnknownNameError, id="unknown-key"),
        pytest.param(with_site({"bogus": 1}), UnknownNameError, id="unknown-site-key"),
        pytest.param(with_site({"bandwidth_mhz": 0}), InvalidConfigError, id="bandwidth-0"),
        pytest.param(with_site({"mean_snr_db": math.nan}), InvalidConfigError, id="snr-nan"),
        pytest.param(with_site({"num_labels": -1}), InvalidConfigError, id="labels-negative"),
        pytest.param(with_site({"rtt_ms": -1.0}), InvalidConfigError, id="rtt-negative"),
        pytest.param(
            with_site({"compute_steps_per_s": math.inf}), InvalidConfigError, id="speed-inf"
        ),
        pytest.param(with_site({"tx_power_w": -0.1}), InvalidConfigError, id="power-negative"),
        pytest.param(base(selection="fastest"), InvalidConfigError, id="selection"),
        pytest.param(base(aggregator="fedbuff"), InvalidConfigError, id="aggregator"),
        pytest.param(base(attack="gradient-ascent"), InvalidConfigError, id="attack"),
        pytest.param(base(compression="fp16"), InvalidConfigError, id="compression"),
        pytest.param(base(algorithm="scaffold"), InvalidConfigError, id="algorithm"),
        pytest.param(base(trim_fraction=0.5), InvalidConfigError, id="trim-half"),
        pytest.param(base(malicious_fraction=1.5), InvalidConfigError, id="malicious-over-1"),
        pytest.param(base(rounds=0), InvalidConfigError, id="rounds-zero"),
        pytest.param(base(learning_rate=math.nan), InvalidConfigError, id="lr-nan"),
        pytest.param(
            with_site({"drift_round": 4, "drift_params": {"gain_low": 0.1}}, rounds=3),
            InvalidConfigError,
            id="drift-after-end",
        ),
        pytest.param(
            with_site({"drift_round": 2}, rounds=3), InvalidConfigError, id="drift-without-params"
        ),
        pytest.param([base()], InvalidConfigError, id="not-a-table"),
    ],
)
def test_invalid_federations_are_refused(data, error):
    assert issubclass(error, GainnetError)
    with pytest.raises(error):
        federation_from_dict(data)


def test_drift_in_the_last_round_is_allowed():
    config = federation_from_dict(
        with_site({"drift_round": 3, "drift_params": {"gain_low": 0.1}}, rounds=3)
    )
    assert config.sites[0].drift_round == 3


def test_error_names_the_site_and_lists_known_keys():
    with pytest.raises(UnknownNameError, match=r"\[\[sites\]\] number 1.*bandwidth_mhz"):
        federation_from_dict(with_site({"bandwidth": 1.0}))


@pytest.mark.parametrize(
    ("fraction", "sites", "expected"),
    [
        (0.1, 10, 1),
        (0.3, 10, 3),
        (0.0, 10, 0),
        (0.5, 4, 2),
        (0.1, 4, 0),
        (0.125, 4, 1),
        (1.0, 3, 3),
    ],
)
def test_num_malicious_rounds_to_nearest(fraction, sites, expected):
    config = federation_from_dict(
        {"sites": default_sites(sites, 100), "clients_per_round": 2, "malicious_fraction": fraction}
    )
    assert config.num_malicious == expected


# --------------------------------------------------------------------- TOML files
TOML = """
rounds = 4
clients_per_round = 2
selection = "deadline"

[[sites]]
name = "a"
num_labels = 50
mean_snr_db = 12.5
params = { gain_low = 0.5, gain_high = 1.5 }

[[sites]]
name = "b"
bandwidth_mhz = 5.0
"""


def test_load_federation_config(tmp_path):
    path = tmp_path / "fed.toml"
    path.write_text(TOML)
    config = load_federation_config(path)
    assert config.rounds == 4 and config.selection == "deadline"
    assert [s.name for s in config.sites] == ["a", "b"]
    assert config.sites[0].params == {"gain_low": 0.5, "gain_high": 1.5}
    assert config.sites[1].bandwidth_mhz == 5.0 and config.sites[1].num_labels == 1000
    assert load_federation_config(str(path), rounds=9, seed=3).rounds == 9


def test_load_federation_config_refusals(tmp_path):
    with pytest.raises(GainnetError, match="no such federation config"):
        load_federation_config(tmp_path / "missing.toml")
    with pytest.raises(GainnetError, match="is a directory"):
        load_federation_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = = 3\n")
    with pytest.raises(GainnetError, match="not valid TOML"):
        load_federation_config(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00rounds")
    with pytest.raises(GainnetError, match="not valid TOML"):
        load_federation_config(binary)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(TOML.replace("rounds = 4", "roundz = 4"))
    with pytest.raises(UnknownNameError, match=r"unknown\.toml"):
        load_federation_config(unknown)
    no_sites = tmp_path / "no_sites.toml"
    no_sites.write_text("rounds = 4\n")
    with pytest.raises(InvalidConfigError, match="sites"):
        load_federation_config(no_sites)
    good = tmp_path / "fed.toml"
    good.write_text(TOML)
    with pytest.raises(InvalidConfigError, match="rounds"):
        load_federation_config(good, rounds=0)
