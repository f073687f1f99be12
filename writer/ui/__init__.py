"""The Textual side of writer. Importing it never imports torch: the engine loads in a worker."""
