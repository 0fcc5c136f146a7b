"""The host names requests may be addressed to (``UNKNOT_ALLOWED_HOSTS``)."""

from __future__ import annotations

from litestar.datastructures import Headers
from litestar.middleware.allowed_hosts import AllowedHostsMiddleware
from litestar.status_codes import HTTP_400_BAD_REQUEST
from litestar.types import Receive, Scope, Send

from server.api.errors import InputError

__all__ = ["KnownHosts"]


class KnownHosts(AllowedHostsMiddleware):
    """Litestar's allowed-hosts check, refusing another ``Host`` with the app's own error body.

    Litestar's own refusal is ``{"message": "invalid host header"}``, a shape no other error of the
    API has: a client reading ``errors[].field`` (or an operator reading a health check's answer)
    could not tell what was wrong. A page that points its own name at the server (DNS rebinding)
    gets nothing either way.
    """

    def _answers(self, host: str) -> bool:
        if self.allowed_hosts_regex is None:
            return True
        if not host.split(":")[0]:
            return False
        return bool(
            self.allowed_hosts_regex.fullmatch(host)
            or (self.redirect_domains is not None and self.redirect_domains.fullmatch(host))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request for a host name not allowed (400, naming ``Host``); else Litestar's
        middleware answers it (a ``www.`` redirect) or passes it on."""
        if not self._answers(Headers.from_scope(scope).get("host", "")):
            raise InputError("Host", "is not a name this server answers to", status=HTTP_400_BAD_REQUEST)
        await super().__call__(scope, receive, send)
