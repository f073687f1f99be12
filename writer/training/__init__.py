"""Training and evaluating models on the author's writing: fine-tuning (LoRA or full), the corpus
reader, resumable checkpoints, the fine-tuned model folder, perplexity and continuation metrics
(BLEU, chrF, ROUGE-L).

A layer above the engine: may import writer.engine (models, generation) and writer.store, never
the UI or commands.
"""
