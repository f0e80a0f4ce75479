"""The NGSI-LD API's logic: entity model, q and geo-queries, merge, rendering, subscriptions,
term translation and federated scope. Used only by ``broker.api``; transport-free."""
