"""IMB-QA generative tasks: imb_qa (one subtask per macro-category)."""
