"""Settings for the test suite: the development environment (plain http, no HTTPS redirect,
static files without a collected manifest), everything else as in federation.settings.
pytest-django still runs the tests with DEBUG off. Processes the tests start get
production's defaults unless they ask for more."""

import os

_previous = os.environ.get("HUB_ENV")
os.environ["HUB_ENV"] = "development"
try:
    from federation.settings import *  # noqa: F403
finally:
    if _previous is None:
        del os.environ["HUB_ENV"]
    else:
        os.environ["HUB_ENV"] = _previous
