"""The Engine over an OpenAI-compatible server (vLLM, llama.cpp's server, `writer serve`): the
client, its HTTP layer (retries, streaming, errors named for the author), and logprobs parsing.

May import: httpx, writer.engine.types, writer.engine.story, writer.engine.sampling.stops.
Never torch: a remote engine runs on a machine without it.
"""
