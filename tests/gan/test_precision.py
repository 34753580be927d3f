import pytest

from wgan_lab.gan import precision
from wgan_lab.core import ConfigError
from wgan_lab.gan.config import TrainingConfig


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    return path


def test_bfloat16_matrix_units_are_read_from_the_cpu_flags(tmp_path):
    assert precision.cpu_has_bfloat16_matrix_units(cpuinfo(tmp_path, "fpu avx2 amx_bf16 amx_tile"))
    assert not precision.cpu_has_bfloat16_matrix_units(cpuinfo(tmp_path, "fpu avx2 avx512_bf16"))
    assert not precision.cpu_has_bfloat16_matrix_units(tmp_path / "missing")


@pytest.mark.parametrize("has_amx, architecture, expected", [
    (True, "dcgan", "mixed_bfloat16"),
    (True, "mlp", "float32"),
    (False, "dcgan", "float32"),
])
def test_auto_precision_uses_bfloat16_only_where_it_pays(monkeypatch, has_amx, architecture,
                                                         expected):
    monkeypatch.setattr(precision, "cpu_has_bfloat16_matrix_units", lambda: has_amx)
    assert precision.resolve_precision("auto", architecture) == expected
    for explicit in ("float32", "mixed_bfloat16"):
        assert precision.resolve_precision(explicit, architecture) == explicit


def test_unknown_precision_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"training\.runtime\.precision"):
        TrainingConfig.from_params({"runtime": {"precision": "float16"}})


def test_precision_change_keeps_checkpoints_valid():
    shape = (28, 28, 1)
    base = TrainingConfig()
    assert (base.replace(runtime={"precision": "float32"}).fingerprint(shape)
            == base.replace(runtime={"precision": "mixed_bfloat16"}).fingerprint(shape))
