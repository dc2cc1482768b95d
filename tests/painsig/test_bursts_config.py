"""The segmenter option (conf/painsig/segmenter/): each registered segmenter has a config that
composes, passes the config check and builds it; the dotted form is refused with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra.utils import instantiate

from nmm.config import compose_config
from nmm.jobs.config_check import SEGMENTER_RULES, ConfigError, check_config
from painsig.bursts import BurstDetector
from painsig.segment import SEGMENTERS, EmgBurstSegmenter, segmenter_name

CONF = Path(__file__).resolve().parents[2] / "conf" / "painsig" / "segmenter"


def test_every_segmenter_has_a_config_and_rules():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(SEGMENTERS) == set(SEGMENTER_RULES)
    for name in SEGMENTERS:
        target = yaml.safe_load((CONF / f"{name}.yaml").read_text())["_target_"]
        assert segmenter_name(target) == name


@pytest.mark.parametrize("name", sorted(SEGMENTERS))
def test_each_option_composes_passes_the_check_and_builds(name):
    cfg = compose_config("painsig_run", [f"painsig/segmenter={name}"])
    check_config(cfg, "painsig")
    assert isinstance(instantiate(cfg.painsig.segmenter), SEGMENTERS[name])


def test_emg_bursts_keeps_the_experiment_agonist():
    cfg = compose_config("painsig_run", ["experiment=uci_painsig", "painsig/segmenter=emg_bursts"])
    check_config(cfg, "painsig")
    seg = instantiate(cfg.painsig.segmenter)
    assert seg == EmgBurstSegmenter(agonist="vastus_medialis", detector=BurstDetector())


def test_the_dotted_form_and_bad_options_are_refused_naming_the_key():
    cfg = compose_config("painsig_run", ["painsig.segmenter=emg_bursts"])
    with pytest.raises(ConfigError, match=r"painsig/segmenter=<name>") as err:
        check_config(cfg, "painsig")
    assert err.value.key == "painsig.segmenter"
    cfg = compose_config(
        "painsig_run", ["painsig/segmenter=emg_bursts", "painsig.segmenter.detector.min_on_s=0"]
    )
    with pytest.raises(ConfigError) as err:
        check_config(cfg, "painsig")
    assert err.value.key == "painsig.segmenter.detector.min_on_s"
