"""A problem's `detail` where it is the person's only guide: the API's answer read as it is (curl following the
docs, the phone's CLI printing the server's detail). English, the API's language. Most problem details are
the API's own wording of what was refused; a refusal a person meets by doing what the docs say, with
something to do about it, says it here."""

from __future__ import annotations

EN: dict[str, str] = {
    "too_many_clients": (
        "this account has {held} clients enrolled, the most allowed, and a sign-in without a client_id enrols one"
        " more: sign in with the client_id an earlier sign-in answered (it signs that client in again), or revoke"
        " the clients no longer used (the console's Clients page /console/clients, DELETE /api/clients/<client_id>,"
        " or ask a supervisor) and sign in again"),
}
