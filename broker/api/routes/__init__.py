"""Thin aiohttp routes: decode, authenticate (middleware), call a service, encode."""
