"""Renkei broker: the node (composition root), gRPC federation, NGSI-LD HTTP API, store and CLI.

``broker`` depends on the ``trust`` and ``mappings`` libraries; they never import it.
"""
