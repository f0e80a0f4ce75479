"""Renkei trust framework: federation directory, keys, node tokens, agreements, policy, audit.

A library: it never imports ``broker``, grpc or aiohttp.
"""
