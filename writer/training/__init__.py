"""Training and evaluating models on the author's writing: fine-tuning (LoRA or full), learning
the author's preferences from their picks (DPO: learn, dpo, pairs, preference_metrics), the
corpus reader, resumable checkpoints, the fine-tuned model folder, perplexity and continuation
metrics (BLEU, chrF, ROUGE-L).

A layer above the engine: may import writer.engine (models, generation) and writer.store, never
the UI or commands.
"""
