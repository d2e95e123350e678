"""IMB-MCQA tasks: imb_mcqa (per category), imb_mcqa_mp (several prompts), imb_mcqa_cloze."""
