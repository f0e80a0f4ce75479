"""The NGSI-LD HTTP API of a node (ETSI GS CIM 009 v1.8), served with aiohttp."""
