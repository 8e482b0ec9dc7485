"""kconfig extern values as the runtime resolves them on the loading machine."""

from __future__ import annotations

import os

import pytest

from bpf_build.runtime import KconfigError
from bpf_build.runtime.kconfig import build_kconfig_data, kernel_config, kernel_version_code, parse_config
from bpf_build.runtime.loader import KconfigSpec
from tests import kernel_facts


def ext(name, kcfg_type, size, offset, signed=False, weak=False):
    return KconfigSpec(name, kcfg_type, size, offset, signed, weak)


def test_kernel_version_code():
    assert kernel_version_code("6.18.44-fc-v669") == (6 << 16) | (18 << 8) | 44
    assert kernel_version_code("5.4.300") == (5 << 16) | (4 << 8) | 255  # patch level capped
    assert kernel_version_code("6.1") == (6 << 16) | (1 << 8)
    with pytest.raises(KconfigError):
        kernel_version_code("banana")


def test_parse_config_and_this_machines_config():
    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="str"\nCONFIG_D=0x10\n# comment\n'
    assert parse_config(text) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"str"', "CONFIG_D": "0x10"}
    # the first source that exists, whichever this kernel has (Debian's: /boot; others: /proc)
    assert kernel_config() == kernel_facts.kernel_config()
    assert kernel_config()["CONFIG_BPF_SYSCALL"] == "y"


def test_every_kind_encodes_like_libbpf():
    config = {"CONFIG_Y": "y", "CONFIG_M": "m", "CONFIG_NUM": "-5", "CONFIG_HEX": "0x20",
              "CONFIG_STR": '"hello world"'}
    externs = [ext("CONFIG_Y", "bool", 1, 0), ext("CONFIG_M", "tristate", 4, 4), ext("CONFIG_M", "char", 1, 8),
               ext("CONFIG_NUM", "int", 4, 12, signed=True), ext("CONFIG_HEX", "int", 8, 16),
               ext("CONFIG_STR", "char_array", 6, 24), ext("CONFIG_ABSENT", "bool", 1, 30),
               ext("CONFIG_WEAK_ABSENT", "int", 1, 31, weak=True)]
    data = build_kconfig_data(externs, 32, config=config)
    assert data[0] == 1
    assert int.from_bytes(data[4:8], "little") == 2  # TRI_MODULE
    assert data[8:9] == b"m"
    assert int.from_bytes(data[12:16], "little", signed=True) == -5
    assert int.from_bytes(data[16:24], "little") == 0x20
    assert data[24:30] == b"hello\0"  # truncated, NUL-terminated
    assert data[30] == 0 and data[31] == 0


@pytest.mark.parametrize("spec,value,message", [
    (ext("CONFIG_X", "bool", 1, 0), "m", "is 'm'"),
    (ext("CONFIG_X", "int", 1, 0), "300", "does not fit"),
    (ext("CONFIG_X", "int", 4, 0), '"s"', "not a number"),
    (ext("CONFIG_X", "char_array", 4, 0), "12", "not a string"),
])
def test_impossible_values_are_errors(spec, value, message):
    with pytest.raises(KconfigError, match=message):
        build_kconfig_data([spec], 8, config={"CONFIG_X": value})


def test_missing_strong_extern_is_an_error_and_linux_externs_are_known():
    with pytest.raises(KconfigError, match="CONFIG_NOPE is not set"):
        build_kconfig_data([ext("CONFIG_NOPE", "int", 4, 0)], 4, config={})
    data = build_kconfig_data([ext("LINUX_KERNEL_VERSION", "int", 4, 0), ext("LINUX_HAS_BPF_COOKIE", "bool", 1, 4)],
                              8, config={})
    assert int.from_bytes(data[:4], "little") == kernel_version_code(os.uname().release)
    assert data[4] == 1
