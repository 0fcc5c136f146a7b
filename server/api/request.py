"""Request bodies decoded strictly into the type the handler declares."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from server.api.errors import InputError

__all__ = ["JSONRequest"]

_UNSET = object()


def _is_json(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class JSONRequest(Request):
    """A request whose JSON body is decoded straight into the handler's ``data`` type.

    Litestar decodes a body untyped and then converts it leniently (``strict=False``, meant for
    query strings), so ``{"archived": "true"}`` archived a patient and ``"soreness": "5"`` was
    stored; a number too large to decode was blamed on the whole body. Decoding into the declared
    type with msgspec's strict rules refuses both, naming the field.
    """

    _typed_json: Any = _UNSET

    async def json(self) -> Any:
        """The body decoded into the handler's ``data`` type (untyped where it declares none)."""
        if self._typed_json is not _UNSET:
            return self._typed_json
        parameter = self.route_handler.parsed_fn_signature.parameters.get("data")
        if parameter is None:
            return await super().json()
        if not _is_json(self.headers.get("content-type", "")):
            raise InputError("Content-Type", "must be application/json", status=HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        try:
            self._typed_json = msgspec.json.decode(await self.body() or b"null", type=parameter.annotation)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail="invalid request body", extra=[{"message": str(exc), "key": "data", "source": "body"}]
            ) from None
        except msgspec.DecodeError as exc:
            raise ClientException(str(exc)) from None  # malformed JSON: the 400 Litestar gives
        return self._typed_json
