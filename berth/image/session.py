"""What pull, push, login and search share: registries.conf, credentials, one client per registry."""

from __future__ import annotations

from berth.image import credentials
from berth.image.registry.client import Client


class Session:
    def __init__(self, tls_verify: bool | None, authfile: str | None, creds: tuple[str, str] | None,
                 cert_dir: str | None, conf: object = None) -> None:
        self.tls_verify = tls_verify
        self.authfile = authfile
        self.creds = creds
        self.cert_dir = cert_dir
        self._conf = conf
        self._clients: dict[tuple, Client] = {}

    @property
    def conf(self):
        if self._conf is None:
            from berth.image import registries_conf

            self._conf = registries_conf.load()
        return self._conf

    def insecure(self, host: str, hint: bool | None = None) -> bool:
        """--tls-verify wins; else the registries.conf entry (or mirror) that led us to `host`."""
        if self.tls_verify is not None:
            return not self.tls_verify
        if hint is not None:
            return hint
        return self.conf.insecure(host)

    def client_for(self, host: str, insecure: bool | None, repo: str = "") -> Client:
        creds = self.creds or credentials.lookup(host, repo, self.authfile)
        flag = self.insecure(host, insecure)
        key = (host, flag, creds)
        client = self._clients.get(key)
        if client is None:
            client = Client(host, insecure=flag, cert_dir=self.cert_dir, creds=creds)
            self._clients[key] = client
        return client
