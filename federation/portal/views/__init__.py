"""The self-service portal's pages, server-rendered: the public site and sign-in, the
membership application, the member pages of an organisation, mentoring, lawful requests and
the second factor.

Each view reads through a selector that starts from the signed-in person, so another
person's application, organisation or mentee answers 404. Member pages declare the action
they need and are checked by the same function as the API (federation.portal.pages)."""
