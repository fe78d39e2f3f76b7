"""Every route of the hub with the action it needs: the permission matrix as seen from URLs.

Used by `manage.py permission_matrix` (docs/permissions.md) and by the test that walks every
URL pattern, so a route without a declared action cannot slip in unnoticed.

A route that is not an API view says who reaches it where it is declared: each URL module
lists its own in a `NON_API_ROUTES` dict (route name within the module's namespace ->
audience), collected here by `non_api_routes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str
    view: object
    actions: dict[str, str]


def _walk(
    patterns: list, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, object]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
            yield prefix + str(p.pattern), name, p.callback


def all_routes() -> list[Route]:
    routes = []
    for pattern, name, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        actions = dict(getattr(view_class, "actions", {}) or {})
        routes.append(
            Route(pattern=pattern, name=name, view=view_class or callback, actions=actions)
        )
    return routes


def is_admin_route(route: Route) -> bool:
    return route.pattern.startswith("admin/")


def _audiences(module: object, patterns: list, namespace: str) -> Iterator[tuple[str, str]]:
    for name, audience in getattr(module, "NON_API_ROUTES", {}).items():
        yield (f"{namespace}:{name}" if namespace else name), audience
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from _audiences(p.urlconf_module, p.url_patterns, ns)


def non_api_routes() -> dict[str, str]:
    """Every route that is not an API view, by name (`portal:login`), with who reaches
    it, as the URL modules declare them."""
    resolver = get_resolver()
    return dict(_audiences(resolver.urlconf_module, resolver.url_patterns, ""))
