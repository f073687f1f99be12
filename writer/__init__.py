"""writer: a creative-writing assistant that lives in the terminal.

Nothing heavy is imported here: the app must paint before torch is loaded.
"""

__version__ = "0.1.0"
