"""A dropped client connection is one line in the server log; other errors keep their traceback."""
from __future__ import annotations

import io
import logging

from starlette.requests import ClientDisconnect

from ganpaint_core.page.server_log import quiet_client_disconnects


def _logged(exc: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        quiet_client_disconnects()
        try:
            raise exc
        except BaseException as raised:  # noqa: BLE001 - logged as the server logs it
            logger.error("Exception in ASGI application\n", exc_info=raised)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_client_disconnect_is_one_line():
    text = _logged(ClientDisconnect())
    assert text.count("\n") == 1 and "Traceback" not in text and "disconnected" in text


def test_a_disconnect_behind_another_error_is_one_line_too():
    try:
        try:
            raise ClientDisconnect()
        except ClientDisconnect as inner:
            raise RuntimeError("upload failed") from inner
    except RuntimeError as outer:
        assert _logged(outer).count("\n") == 1


def test_other_errors_keep_their_traceback():
    text = _logged(ValueError("a real bug"))
    assert "Traceback" in text and "a real bug" in text
