"""The `agegender` command: dispatches to edge/ (device runtime), train/ and export/."""
from edge import __version__

__all__ = ["__version__"]
