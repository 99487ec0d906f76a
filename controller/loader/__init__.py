"""Turning a FileTree into validated resources, with located diagnostics."""

from controller.loader.diagnostics import Diagnostic
from controller.loader.loader import Loaded, LoadResult, load_tree

__all__ = ["Diagnostic", "LoadResult", "Loaded", "load_tree"]
