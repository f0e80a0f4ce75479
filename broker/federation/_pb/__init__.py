"""Generated protobuf and gRPC modules (``make proto``); imported only by the codec and adapters."""
