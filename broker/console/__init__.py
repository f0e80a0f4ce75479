"""The operator console: server-rendered pages at ``/console`` on the node's HTTP port.

Built from ``ConsoleDeps`` (the node's parts it shows and changes), never from the node. Every
value shown is escaped by ``markup`` (entity names and quarantined raw values are attacker
text); every POST carries the session's CSRF token; every change is audited with the
operator's name.
"""
