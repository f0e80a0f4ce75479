"""Notes on gRPC calls: what the service layer decided about the call being served (for the
transport's access log), and the record of a finished call the access log and metrics share.

The decision travels in a context variable, so that nothing has to be threaded through the
calls: the gRPC access interceptor runs the handler in the same task and reads it at the end.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

# The agreement the policy decision named for this call ('' when none matched).
AGREEMENT: contextvars.ContextVar[str] = contextvars.ContextVar("renkei_call_agreement",
                                                                default="")


@dataclass(frozen=True)
class CallRecord:
    """One finished gRPC call, as the access log and the metrics see it."""

    side: str  # served | made
    method: str  # Query, GetEntity, ... (the method name without its service)
    peer: str  # the other member's id (the peer address if it never authenticated)
    agreement: str
    status: str  # gRPC status name: OK, PERMISSION_DENIED, UNAVAILABLE, ...
    reason: str  # the stable reason code of a refusal ('' when OK)
    entities: int
    bytes: int  # response bytes (protobuf size of the messages answered)
    seconds: float
