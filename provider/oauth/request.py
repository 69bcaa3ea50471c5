"""Authlib's request interface over parameters provider has already read and checked."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request

from provider.oauth.exchange import Exchange


class _Payload(OAuth2Payload):
    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist = params
        self._data = {key: values[0] for key, values in params.items() if values}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):
    def __init__(
        self, method: str, uri: str, headers: Any, params: dict[str, list[str]], exchange: Exchange
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = _Payload(params)
        self.exchange = exchange

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data
