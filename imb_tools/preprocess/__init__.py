"""The paper's preprocessing pipeline as reusable steps.

Cleaning (`clean`), PII anonymization (`anonymize`), LLM reformulation,
topic categorization and difficulty scoring: each step reads and writes a
table (JSONL, CSV or Parquet, every input field kept) so a data team can
rerun them on new forum dumps before `imb build`.
"""
