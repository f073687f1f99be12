"""Framing a story for the model: context assembly (memory, author's note, lorebook, the story's
tail) within the window, prompt framing (continuations, plot ideas), and chat framing.

Pure Python, no torch at import: the UI and `writer serve` assemble context without loading a
model. May import: writer.engine.types, writer.engine.sampling.stops, writer.errors, presets.
"""
