"""Receive mla-tracker webhooks; MLA_WEBHOOK_SECRET=whsec_… python webhook_receiver.py 8081"""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

hook = Webhook(os.environ["MLA_WEBHOOK_SECRET"])
seen: set[str] = set()  # deliveries are at least once: a webhook-id may come again


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:  # the reference verifier: signature, and a timestamp within 5 minutes
            event = hook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(401)
        else:
            if self.headers["webhook-id"] not in seen:
                seen.add(self.headers["webhook-id"])
                data = event["data"]
                print(event["event_id"], event["type"], data["action"], data["request_id"])
                sys.stdout.flush()
            self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
