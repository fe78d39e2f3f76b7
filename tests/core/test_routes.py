from core.routes import all_routes, is_admin_route, non_api_routes


def test_each_url_module_lists_its_routes_under_its_namespace():
    audiences = non_api_routes()
    assert audiences["healthz"] == "public (hub.meta.read)"
    assert audiences["portal:login"] == "public"
    assert audiences["transparency_public:report-list"].startswith("public")
    assert audiences["otp_webauthn:js-i18n-catalog"].startswith("public")


def test_every_route_listed_as_not_an_api_view_exists_and_declares_no_action():
    routes = {r.name: r for r in all_routes() if not is_admin_route(r)}
    listed = set(non_api_routes()) - {"admin"}
    assert listed <= set(routes)
    assert all(not routes[name].actions for name in listed)
