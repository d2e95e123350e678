"""Publishing built datasets and results to the Hugging Face Hub."""
