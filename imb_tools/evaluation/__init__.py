"""Evaluation: lm-eval task generation, the data the tasks read, the one prompt builder, `imb eval`."""
