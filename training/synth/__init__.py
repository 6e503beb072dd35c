"""Synthetic Shanghai smart-site worlds with a known truth, for training and tests."""

from training.synth.world import World, generate_world
from training.synth.write import FORMATS, Format, write_world

__all__ = ["FORMATS", "Format", "World", "generate_world", "write_world"]
