"""The smart-site data contract: its rules as data (:mod:`.spec`), and the loader
that reads a folder or frames and checks every rule (:mod:`.load`)."""

from models.contract.load import ContractData, load_folder, read_table, validate_frames
from models.contract.problems import ContractError, Problem, ProblemReport

__all__ = [
    "ContractData",
    "ContractError",
    "Problem",
    "ProblemReport",
    "load_folder",
    "read_table",
    "validate_frames",
]
