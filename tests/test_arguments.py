"""Argument types of the command line and the seed check the runner and the notebook session share."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from companion import arguments
from companion.arguments import MAX_SEED
from companion.errors import CompanionError


def test_max_seed_leaves_room_for_consecutive_seeds_below_2_32():
    assert MAX_SEED + 1000 == 2**32 - 1


@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), (str(MAX_SEED), MAX_SEED)])
def test_seed_accepts_the_range(text, value):
    assert arguments.seed(text) == value


@pytest.mark.parametrize("text, message", [
    ("-1", f"seed must be between 0 and {MAX_SEED:,}, got -1"),
    (str(MAX_SEED + 1), f"seed must be between 0 and {MAX_SEED:,}, got {MAX_SEED + 1}"),
    (str(2**64), "seed must be between 0 and"),
    ("1.5", "seed must be a whole number, got '1.5'"),
    ("abc", "seed must be a whole number, got 'abc'"),
])
def test_seed_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.seed(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("value", [0, 3, MAX_SEED, np.int64(5), np.uint32(9)])
def test_check_seed_accepts_whole_numbers_in_range(value):
    assert arguments.check_seed(value) == int(value) and type(arguments.check_seed(value)) is int


@pytest.mark.parametrize("value, message", [
    (-1, "seed must be between 0 and 4,294,966,295, got -1"),
    (MAX_SEED + 1, "seed must be between 0 and 4,294,966,295, got 4294966296"),
    (2**63, "seed must be between 0 and"),
    (1.5, "seed must be a whole number, got 1.5"),
    (True, "seed must be a whole number, got True"),
    ("3", "seed must be a whole number, got '3'"),
    (None, "seed must be a whole number, got None"),
])
def test_check_seed_refuses(value, message):
    with pytest.raises(CompanionError) as info:
        arguments.check_seed(value)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("text, value", [("1", 1), ("1200000", 1_200_000)])
def test_positive_int_accepts(text, value):
    assert arguments.positive_int(text) == value


@pytest.mark.parametrize("text, message", [
    ("0", "the value must be >= 1, got 0"),
    ("-3", "the value must be >= 1, got -3"),
    ("2.5", "the value must be a whole number, got '2.5'"),
    ("", "the value must be a whole number, got ''"),
])
def test_positive_int_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.positive_int(text)
    assert str(info.value) == message


@pytest.mark.parametrize("text, value", [("1e-4", 1e-4), ("0.5", 0.5), ("3", 3.0)])
def test_positive_float_accepts(text, value):
    assert arguments.positive_float(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "-0.0", "nan", "NaN", "inf", "-inf", "1e999"])
def test_positive_float_refuses_non_positive_and_non_finite(text):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.positive_float(text)
    assert str(info.value) == f"expected a finite number > 0, got {text!r}"
    assert not (math.isfinite(float(text)) and float(text) > 0)


def test_positive_float_refuses_words():
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a number > 0, got 'fast'$"):
        arguments.positive_float("fast")


def test_out_folder(tmp_path):
    assert arguments.out_folder(str(tmp_path / "new")) == tmp_path / "new"  # may not exist yet
    assert arguments.out_folder(str(tmp_path)) == tmp_path
    assert not (tmp_path / "new").exists(), "a type check must not create anything"
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.out_folder(str(tmp_path / "file.txt"))
    assert str(info.value) == f"{tmp_path / 'file.txt'} is a file; name a folder (it is created if missing)"
    with pytest.raises(argparse.ArgumentTypeError) as info:  # a file in the way further up
        arguments.out_folder(str(tmp_path / "file.txt" / "sub"))
    assert str(info.value) == f"{tmp_path / 'file.txt' / 'sub'} cannot be created: {tmp_path / 'file.txt'} is a file"


def test_existing_folder(tmp_path):
    assert arguments.existing_folder(str(tmp_path)) == tmp_path
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.existing_folder(str(tmp_path / "file.txt"))
    assert str(info.value) == f"{tmp_path / 'file.txt'} is a file, not a folder"
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.existing_folder(str(tmp_path / "missing"))
    assert str(info.value) == f"{tmp_path / 'missing'} does not exist"


def test_out_file(tmp_path):
    assert arguments.out_file(str(tmp_path / "LEDGER.md")) == tmp_path / "LEDGER.md"
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.out_file(str(tmp_path))
    assert str(info.value) == f"{tmp_path} is a folder; name a file"
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError) as info:
        arguments.out_file(str(tmp_path / "file.txt" / "LEDGER.md"))
    assert str(info.value) == (f"{tmp_path / 'file.txt' / 'LEDGER.md'} cannot be created: "
                               f"{tmp_path / 'file.txt'} is a file")
