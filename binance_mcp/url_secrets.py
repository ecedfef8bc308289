"""A store's URL as a message may show it: without a password, wherever the URL carries one.

libpq and redis-py take a password in three places: the URL's userinfo (`postgresql://bob:PW@…`),
a query parameter (`?password=PW`, also `sslpassword=`), and for libpq a conninfo string that is
not a URL at all (`host=… password=PW`). Each is shown as `***`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["shown_url"]

_PASSWORD_SETTING = re.compile(
    r"((?:^|[?&\s])[a-z_]*password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE
)


def shown_url(url: str) -> str:
    """`url` with every password in it replaced by `***`."""
    try:
        password = urlsplit(url).password
    except ValueError:  # not a URL one can split (a bad port): hide what looks like userinfo
        password = None
    if password is not None:
        url = url.replace(f":{password}@", ":***@", 1)
    return _PASSWORD_SETTING.sub(r"\1***", url)
