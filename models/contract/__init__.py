"""The smart-site data contract: its rules as data (:mod:`.spec`), and the loader
that reads a folder or frames and checks every rule (:mod:`.load`)."""

from models.contract.load import (
    ContractData,
    empty_frame,
    load_files,
    load_folder,
    read_table,
    validate_frames,
    validate_tables,
)
from models.contract.problems import ContractError, Problem, ProblemReport

__all__ = [
    "ContractData",
    "ContractError",
    "Problem",
    "ProblemReport",
    "empty_frame",
    "load_files",
    "load_folder",
    "read_table",
    "validate_frames",
    "validate_tables",
]
