"""Turning a FileTree into validated resources, with located diagnostics."""

from controller.loader.diagnostics import Diagnostic
from controller.loader.loaded import Loaded
from controller.loader.loader import LoadResult, load_tree

__all__ = ["Diagnostic", "LoadResult", "Loaded", "load_tree"]
