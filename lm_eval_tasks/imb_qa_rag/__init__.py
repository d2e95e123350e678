"""IMB-QA with retrieved context: imb_qa_rag (one subtask per macro-category)."""
