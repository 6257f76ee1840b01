"""A missing input file is a FileNotFoundError (and a FabricError naming the file), as users'
``except FileNotFoundError`` handlers expect."""

import pytest

import fabricsim as fs
from fabricsim.analysis import nccl_tests


@pytest.mark.parametrize(
    "read, cls",
    [
        (fs.load_scenario, fs.ScenarioNotFoundError),
        (fs.read_cable_list, fs.InputFileNotFoundError),
        (nccl_tests.read_log, fs.InputFileNotFoundError),
    ],
)
def test_missing_input_file_is_file_not_found(tmp_path, read, cls):
    missing = tmp_path / "absent.txt"
    with pytest.raises(FileNotFoundError, match="absent.txt") as info:
        read(missing)
    assert isinstance(info.value, cls) and isinstance(info.value, fs.FabricError)
