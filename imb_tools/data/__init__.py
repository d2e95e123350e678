"""Reading, validating, splitting and writing IMB records."""
