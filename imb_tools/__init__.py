"""IMB toolkit: the Italian Medical Benchmark's builders, pipeline and experiments."""

__version__ = "0.1.0"
