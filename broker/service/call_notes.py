"""What the service layer decided about the call being served, for the transport's access log.

A context variable, so that nothing has to be threaded through the calls: the gRPC access
interceptor runs the handler in the same task and reads it when the call ends.
"""

from __future__ import annotations

import contextvars

# The agreement the policy decision named for this call ('' when none matched).
AGREEMENT: contextvars.ContextVar[str] = contextvars.ContextVar("renkei_call_agreement",
                                                                default="")
