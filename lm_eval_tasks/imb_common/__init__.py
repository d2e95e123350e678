"""The code the three IMB task folders share: data, prompts, few-shot order, metrics, retrieval.

It imports only what lm-eval installs and what the task READMEs list (bert_score and nltk
for IMB-QA; sentence-transformers, faiss-cpu and bm25s for IMB-QA with RAG), never
imb_tools, so the `lm_eval_tasks` folder can be copied anywhere and proposed upstream as
it is. Each folder's `utils.py` names what its YAMLs call; the IMB toolkit imports the
same functions from here (one copy of each prompt and metric).

    data     where the data comes from (a local build, a Hub repo), hash order, few-shot order
    mcqa     IMB-MCQA prompts and the letter-token check
    qa       the IMB-QA prompt, per-document scores and set-level aggregations
    metrics  ROUGE, corpus BLEU, METEOR for Italian; BERTScore batched, model loaded once
    rag      IMB-QA with retrieved passages: index reading, retrieval, provenance checks
    tasksets the per-category task stubs for one build (yaml.dump)
"""


class TaskError(ValueError):
    """A setting or the data a task was given is wrong: one line that says what to give instead
    (the IMB toolkit shows it as `imb: error: ...`)."""
