"""The fast GPT-2: the runner that owns the weights and the decode step, its KV caches, int8 and
bf16 weights, CUDA graphs, and the back ends that drive it (with the thread governor).

May import: torch, writer.errors. Never the store, Textual, or the other engine subpackages
(sampling, story, remote): the Engine in writer.engine.generate composes them.
"""
