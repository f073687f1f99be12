"""`writer serve`: writer's engine behind an OpenAI-compatible HTTP API (a peer of ui/)."""
