"""The ``renkei`` command line: one module per command group."""
