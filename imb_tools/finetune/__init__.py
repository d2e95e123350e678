"""Supervised fine-tuning of small language models on IMB-QA (the paper's Section 4.3, Table 8).

`data` turns the built dataset into masked training examples, `train` runs
LoRA (QLoRA + unsloth on CUDA when installed), `evaluate` compares base and
fine-tuned answers with the shared metrics, `merge` folds the adapter in.
"""
