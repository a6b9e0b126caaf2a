"""A small local stand-in for the Stripe API, for tests.

The app talks to it with the real `stripe` library (STRIPE_API_BASE points
here). It implements what Hypereal calls, with Stripe's wire shapes:

    POST /v1/checkout/sessions              create (payment mode, price_data)
    GET  /v1/checkout/sessions/{id}         retrieve
    GET  /v1/checkout/sessions?payment_intent=…   list
    POST /v1/checkout/sessions/{id}/expire  expire
    GET  /v1/payment_intents/{id}           retrieve (expand[]=latest_charge)
    GET  /v1/charges/{id}                   retrieve
    POST /v1/refunds                        create (emits charge.refunded)

plus a hosted checkout page a browser can complete (GET /checkout/{id},
POST /checkout/{id}/pay | /cancel) and a receipt page. Bearer-key auth,
idempotency keys (same key + same params = same answer; other params =
400) and form-encoded bodies are handled as Stripe does.

Events are signed with the library's own scheme
(stripe.WebhookSignature.generate_signature_header). With `webhook_url` set
they are POSTed there from a background thread, as Stripe would; without
it they wait in `outbox` for the test to deliver (in any order, or twice).
"""

from __future__ import annotations

import html
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

API_VERSION = stripe.api_version


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts/lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "[]":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node):
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


@dataclass
class Delivery:
    event: dict
    status: int
    body: str


@dataclass
class FakeStripe:
    secret_key: str = "sk_test_hypereal_fake"
    webhook_secret: str = "whsec_hypereal_fake"
    webhook_url: str | None = None
    sessions: dict = field(default_factory=dict)
    intents: dict = field(default_factory=dict)
    charges: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    outbox: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    fail_next: list = field(default_factory=list)
    # "METHOD /v1/path-prefix" -> status: the next matching request fails once.
    fail_on: dict = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.RLock()
        self._idempotency: dict[str, tuple[str, int, dict]] = {}
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None

    # --- server -------------------------------------------------------------------
    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.wait_for_deliveries()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):04d}{secrets.token_hex(6)}"

    # --- events -------------------------------------------------------------------
    def event(self, type_: str, obj: dict) -> dict:
        return {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    def sign(self, payload: str, *, secret: str | None = None, timestamp: int | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret, timestamp=timestamp
        )

    def emit(self, type_: str, obj: dict) -> dict:
        event = self.event(type_, obj)
        if self.webhook_url:
            thread = threading.Thread(target=self.post_event, args=(event,), daemon=True)
            self._threads.append(thread)
            thread.start()
        else:
            with self._lock:
                self.outbox.append(event)
        return event

    def post_event(self, event: dict) -> Delivery:
        """Deliver an event over HTTP to webhook_url, signed."""
        payload = json.dumps(event)
        request = urllib.request.Request(
            self.webhook_url,
            data=payload.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": self.sign(payload)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                delivery = Delivery(event, response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            delivery = Delivery(event, exc.code, exc.read().decode())
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def take_outbox(self) -> list[dict]:
        with self._lock:
            events, self.outbox = self.outbox, []
        return events

    def wait_for_deliveries(self, timeout: float = 30) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # --- actions a customer or the Stripe dashboard takes ---------------------------
    def pay(self, session_id: str, *, delayed: bool = False) -> dict:
        """The customer pays the session: a PaymentIntent and a charge exist,
        and checkout.session.completed is emitted (payment_status "unpaid"
        for a delayed method such as a bank debit)."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"session is {session['status']}")
            intent_id, charge_id = self._id("pi"), self._id("ch")
            amount = session["amount_total"]
            self.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "currency": session["currency"],
                "paid": True,
                "refunded": False,
                "disputed": False,
                "status": "pending" if delayed else "succeeded",
                "payment_intent": intent_id,
                "receipt_url": f"{self.base_url}/receipts/{charge_id}",
                "metadata": {},
            }
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "currency": session["currency"],
                "status": "processing" if delayed else "succeeded",
                "latest_charge": charge_id,
                "metadata": dict(session.get("payment_intent_data", {}).get("metadata", {})),
            }
            session.update(status="complete", payment_status="unpaid" if delayed else "paid", payment_intent=intent_id)
            snapshot = self._public_session(session)
        self.emit("checkout.session.completed", snapshot)
        return snapshot

    def settle_delayed(self, session_id: str, *, succeeded: bool = True) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            session["payment_status"] = "paid" if succeeded else "unpaid"
            self.intents[session["payment_intent"]]["status"] = "succeeded" if succeeded else "requires_payment_method"
            snapshot = self._public_session(session)
        kind = "succeeded" if succeeded else "failed"
        self.emit(f"checkout.session.async_payment_{kind}", snapshot)
        return snapshot

    def expire(self, session_id: str) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            session["status"] = "expired"
            snapshot = self._public_session(session)
        self.emit("checkout.session.expired", snapshot)
        return snapshot

    def refund_in_dashboard(self, charge_id: str, amount: int | None = None) -> dict:
        """A refund made outside Hypereal (the Stripe dashboard)."""
        with self._lock:
            refund = self._refund(charge_id, amount, {})
        self.emit("charge.refunded", dict(self.charges[charge_id]))
        return refund

    def dispute(self, charge_id: str, amount: int | None = None) -> dict:
        with self._lock:
            charge = self.charges[charge_id]
            charge["disputed"] = True
            dispute = {
                "id": self._id("dp"),
                "object": "dispute",
                "amount": charge["amount"] if amount is None else amount,
                "charge": charge_id,
                "payment_intent": charge["payment_intent"],
                "currency": charge["currency"],
                "reason": "fraudulent",
                "status": "needs_response",
            }
        self.emit("charge.dispute.created", dispute)
        return dispute

    def session_for_topup(self, topup_id: int) -> dict:
        with self._lock:
            return next(s for s in self.sessions.values() if s["client_reference_id"] == str(topup_id))

    # --- HTTP -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        params = decode_form(parse_qsl(raw if method == "POST" else url.query, keep_blank_values=True))
        path = url.path
        try:
            if path.startswith("/v1/"):
                status, body = self._api(method, path, params, handler.headers)
                self._send(handler, status, json.dumps(body), "application/json")
            elif path.startswith("/checkout/"):
                self._hosted(handler, method, path)
            elif path.startswith("/receipts/"):
                charge = self.charges.get(path.rsplit("/", 1)[-1])
                text = f"<h1>Receipt</h1><p>{charge['amount'] / 100:.2f} {charge['currency'].upper()}</p>"
                self._send(handler, 200 if charge else 404, text if charge else "not found", "text/html")
            else:
                self._send(handler, 404, "not found", "text/plain")
        except Exception as exc:  # surface fake bugs as Stripe-shaped 500s
            self._send(
                handler, 500, json.dumps({"error": {"type": "api_error", "message": repr(exc)}}), "application/json"
            )

    @staticmethod
    def _send(handler, status: int, text: str, content_type: str, headers: dict | None = None) -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_" + secrets.token_hex(6))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None):
        return status, {"error": {"type": type_, "message": message, "param": param}}

    def _api(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "params": params, "idempotency_key": headers.get("Idempotency-Key")}
            )
            if headers.get("Authorization") != f"Bearer {self.secret_key}":
                return self._error(401, "Invalid API Key provided.", "invalid_request_error")
            if self.fail_next:
                status = self.fail_next.pop(0)
                return self._error(status, "Simulated Stripe failure.", "api_error")
            for rule in list(self.fail_on):
                rule_method, _, prefix = rule.partition(" ")
                if rule_method == method and path.startswith(prefix):
                    return self._error(self.fail_on.pop(rule), "Simulated Stripe failure.", "api_error")
            key = headers.get("Idempotency-Key")
            if method == "POST" and key:
                fingerprint = json.dumps([path, params], sort_keys=True)
                if key in self._idempotency:
                    seen, status, body = self._idempotency[key]
                    if seen != fingerprint:
                        return self._error(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters.",
                            "idempotency_error",
                        )
                    return status, body
                status, body = self._route(method, path, params)
                self._idempotency[key] = (fingerprint, status, body)
                return status, body
            return self._route(method, path, params)

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if parts == ["checkout", "sessions"] and method == "POST":
            return self._session_create(params)
        if parts == ["checkout", "sessions"] and method == "GET":
            found = [
                self._public_session(s)
                for s in self.sessions.values()
                if not params.get("payment_intent") or s.get("payment_intent") == params["payment_intent"]
            ]
            limit = int(params.get("limit") or 10)
            return 200, {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": path}
        if parts[:2] == ["checkout", "sessions"] and len(parts) >= 3:
            session = self.sessions.get(parts[2])
            if session is None:
                return self._error(404, f"No such checkout.session: '{parts[2]}'", param="session")
            if len(parts) == 4 and parts[3] == "expire" and method == "POST":
                if session["status"] != "open":
                    return self._error(400, "Only open sessions can be expired.")
                session["status"] = "expired"
                return 200, self._public_session(session)
            return 200, self._public_session(session)
        if parts[:1] == ["payment_intents"] and len(parts) == 2 and method == "GET":
            intent = self.intents.get(parts[1])
            if intent is None:
                return self._error(404, f"No such payment_intent: '{parts[1]}'", param="intent")
            body = dict(intent)
            if "latest_charge" in (params.get("expand") or []):
                body["latest_charge"] = dict(self.charges[intent["latest_charge"]])
            return 200, body
        if parts[:1] == ["charges"] and len(parts) == 2 and method == "GET":
            charge = self.charges.get(parts[1])
            return (200, dict(charge)) if charge else self._error(404, f"No such charge: '{parts[1]}'", param="id")
        if parts == ["refunds"] and method == "POST":
            intent = self.intents.get(params.get("payment_intent", ""))
            if intent is None:
                return self._error(404, "No such payment_intent", param="payment_intent")
            amount = int(params["amount"]) if params.get("amount") else None
            charge_id = intent["latest_charge"]
            charge = self.charges[charge_id]
            if (amount or charge["amount"] - charge["amount_refunded"]) > charge["amount"] - charge["amount_refunded"]:
                return self._error(400, "Refund amount is greater than unrefunded amount on charge", param="amount")
            refund = self._refund(charge_id, amount, params.get("metadata") or {}, reason=params.get("reason"))
            # Stripe tells the webhook too, asynchronously.
            self.emit("charge.refunded", dict(charge))
            return 200, refund
        return self._error(404, f"Unrecognized request URL ({method}: {path}).")

    def _refund(self, charge_id: str, amount: int | None, metadata: dict, reason: str | None = None) -> dict:
        charge = self.charges[charge_id]
        amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "status": "succeeded",
            "reason": reason,
            "metadata": metadata,
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _session_create(self, params: dict) -> tuple[int, dict]:
        if params.get("mode") != "payment":
            return self._error(400, "This fake supports mode=payment only.", param="mode")
        items = params.get("line_items") or []
        if not items:
            return self._error(400, "line_items is required in payment mode.", param="line_items")
        total, currency = 0, None
        for item in items:
            price = item.get("price_data")
            if not price:
                return self._error(400, "Each line item needs price_data.", param="line_items")
            total += int(price["unit_amount"]) * int(item.get("quantity", 1))
            currency = price["currency"]
        for name in ("success_url", "cancel_url"):
            if not params.get(name, "").startswith(("http://", "https://")):
                return self._error(400, f"Not a valid URL: {name}", param=name)
        session_id = self._id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.base_url}/checkout/{session_id}",
            "livemode": False,
            "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600,
            "line_items_sent": items,
            "payment_intent_data": params.get("payment_intent_data") or {},
        }
        self.sessions[session_id] = session
        return 200, self._public_session(session)

    @staticmethod
    def _public_session(session: dict) -> dict:
        return {k: v for k, v in session.items() if k not in ("line_items_sent", "payment_intent_data")}

    # --- hosted checkout page ------------------------------------------------------------
    def _hosted(self, handler, method: str, path: str) -> None:
        parts = path.strip("/").split("/")
        session = self.sessions.get(parts[1]) if len(parts) > 1 else None
        if session is None:
            self._send(handler, 404, "No such checkout session", "text/plain")
            return
        if method == "GET":
            amount = f"${session['amount_total'] / 100:,.2f}"
            state = session["status"]
            page = f"""<!doctype html><html><head><meta name="viewport" content="width=device-width">
<title>Fake Stripe Checkout</title><style>body{{font-family:sans-serif;max-width:420px;margin:3rem auto;padding:1rem}}
button{{font-size:1rem;padding:.7rem 1.2rem;margin-right:.5rem}}</style></head><body>
<p>TEST MODE · Fake Stripe Checkout</p><h1 id="amount">{amount}</h1>
<p>{html.escape(session.get("customer_email") or "")}</p><p id="state">{state}</p>
<form method="post" action="/checkout/{session["id"]}/pay"><button id="pay" type="submit">Pay {amount}</button></form>
<form method="post" action="/checkout/{session["id"]}/cancel"><button id="cancel" type="submit">Back</button></form>
</body></html>"""
            self._send(handler, 200, page, "text/html")
            return
        if parts[-1] == "pay":
            if session["status"] == "open":
                self.pay(session["id"])
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        else:
            target = session["cancel_url"]
        self._send(handler, 303, "", "text/plain", headers={"Location": target})
