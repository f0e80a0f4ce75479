"""Renkei mapping engine: local schemas to the shared JSON-LD vocabulary and back.

A library: it never imports ``broker``, grpc or aiohttp.
"""
