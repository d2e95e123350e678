"""Text-generation metrics shared by the lm-eval tasks, fine-tuning eval and RAG compare.

`text`: ROUGE-1/2/L, BLEU, METEOR with an Italian-aware tokenizer (cheap, CPU).
`bertscore`: BERTScore with the model loaded once per process and reused.
"""
