"""An amqtt auth plugin that lets in exactly one user name and password.

amqtt's own FileAuthPlugin wants argon2 hashes in a file; a test broker needs one known login and
nothing else, compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class StaticCredentialsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # untyped amqtt
    @dataclass
    class Config:
        username: str = ""
        password: str = ""

    async def authenticate(self, *, session: Session) -> bool:
        cfg = self.config
        user_ok = hmac.compare_digest((session.username or "").encode(), cfg.username.encode())
        pw_ok = hmac.compare_digest((session.password or "").encode(), cfg.password.encode())
        return user_ok and pw_ok
