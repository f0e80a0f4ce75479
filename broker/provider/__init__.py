"""The provider side of federation: admitting a peer's call under its agreement, answering
queries, gets, aggregates and change streams from the store, with limits and audit.
Used by the gRPC servicer and the node; knows nothing of HTTP or of peers it calls."""
