"""gRPC federation between nodes: servicer, interceptors, peer client, fan-out and codec."""
