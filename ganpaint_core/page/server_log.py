"""The server's log says what happened in one line when a visitor's connection drops.

Example::

    quiet_client_disconnects()    # in app.main(), before launch

A visitor who closes the tab during an upload makes the ASGI server log "Exception in ASGI application" with a
~70-line traceback ending in ``ClientDisconnect``: nothing failed on our side, so it becomes one INFO line.
Every other error keeps its traceback.
"""
from __future__ import annotations

import logging

SERVER_LOGGERS = ("uvicorn.error", "uvicorn")  # where the ASGI server reports an application's exceptions
DISCONNECTS = ("ClientDisconnect", "ClientDisconnected")  # starlette's and h11/httptools' names for it


def _is_disconnect(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 16:  # the disconnect may be the cause or context of what was raised
        if type(exc).__name__ in DISCONNECTS:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class _DisconnectFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if _is_disconnect(exc):
            record.msg, record.args = "a client disconnected before its request was read (upload cancelled)", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_FILTER = _DisconnectFilter()


def quiet_client_disconnects() -> None:
    """Turn the server's tracebacks for dropped client connections into one INFO line (idempotent)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
