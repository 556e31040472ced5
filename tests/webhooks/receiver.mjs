// A webhook receiver for the delivery tests. Every delivery is checked with libraries independent of the service:
// the Standard Webhooks signature (npm standardwebhooks) and the CloudEvents 1.0 envelope (npm cloudevents, which
// validates the event against the specification's schema). The tests steer it and read what it saw over HTTP:
//   PUT  /control/endpoints/:name   {secret, failFirst?, failStatus?}   (re)configure an endpoint, forgetting what it saw
//   GET  /control/endpoints/:name                                      {events, rejected, attempts}
//   POST /hooks/:name                                                  a delivery
// It prints {"url": "http://127.0.0.1:port"} on its first line and ends when its standard input closes.
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { HTTP, CloudEvent } from "cloudevents";

const endpoints = new Map();

function endpoint(name) {
  if (!endpoints.has(name)) endpoints.set(name, { secret: null, failFirst: 0, failStatus: 500, events: [], rejected: [], attempts: 0 });
  return endpoints.get(name);
}

function read(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(body === undefined ? "" : JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://localhost");
    const parts = url.pathname.split("/").filter(Boolean);
    const body = await read(req);
    if (parts[0] === "control" && parts[1] === "endpoints" && parts[2]) {
      if (req.method === "PUT") {
        const config = JSON.parse(body.toString("utf8"));
        endpoints.set(parts[2], { secret: config.secret, failFirst: config.failFirst ?? 0, failStatus: config.failStatus ?? 500,
          events: [], rejected: [], attempts: 0 });
        return send(res, 204);
      }
      const e = endpoint(parts[2]);
      return send(res, 200, { events: e.events, rejected: e.rejected, attempts: e.attempts });
    }
    if (req.method === "POST" && parts[0] === "hooks" && parts[1]) {
      const e = endpoint(parts[1]);
      e.attempts++;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]));
      const text = body.toString("utf8");
      try {
        new Webhook(e.secret).verify(text, headers);
      } catch (error) {
        e.rejected.push({ reason: "signature: " + error.message, id: headers["webhook-id"] ?? null });
        return send(res, 401, { error: error.message });
      }
      let event;
      try {
        if (!(headers["content-type"] ?? "").startsWith("application/cloudevents+json")) throw new Error("not structured mode: " + headers["content-type"]);
        event = HTTP.toEvent({ headers, body: text });
        if (Array.isArray(event)) throw new Error("a batch, not one event");
        if (!(event instanceof CloudEvent)) throw new Error("not a CloudEvent");
        event.validate();
      } catch (error) {
        e.rejected.push({ reason: "cloudevent: " + (error.errors ? JSON.stringify(error.errors) : error.message), id: headers["webhook-id"] ?? null });
        return send(res, 400, { error: error.message });
      }
      if (e.failFirst > 0) {
        e.failFirst--;
        return send(res, e.failStatus, { error: "failing on purpose" });
      }
      e.events.push({ webhookId: headers["webhook-id"], ...event.toJSON() });
      return send(res, 204);
    }
    send(res, 404, { error: "no such route" });
  } catch (error) {
    send(res, 500, { error: String(error) });
  }
});

server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
