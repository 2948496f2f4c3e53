#!/usr/bin/env python3
"""Regenerates events/lambda/*.json: whole Lambda payloads built from events/recordings/.

The Kafka payloads follow the MSK / self-managed Kafka event source mapping format (records keyed
"<topic>-<partition>", base64 key and value, headers as byte arrays); the webhook payloads follow
the HTTP payload format 2.0 shared by Function URLs and API Gateway HTTP APIs. Webhook payloads
are signed with the test secret `regsync-test-secret` at a fixed time, so they are expired on
purpose: handler tests re-sign them, and `regsync webhook sign` does it for `cargo lambda invoke`.
Usage: scripts/make-lambda-events.py               (writes events/lambda/, deterministic)
       scripts/make-lambda-events.py --sign FILE   (prints FILE signed for now with
                                                   $REGSYNC_WEBHOOK_SECRET, default the test secret)
"""
import base64, hashlib, hmac, json, os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REC = os.path.join(ROOT, "events", "recordings")
OUT = os.path.join(ROOT, "events", "lambda")
SECRET = b"regsync-test-secret"
SIGNED_AT = 1763800000  # 2025-11-22T08:26:40Z: expired on purpose

def sign_v2(secret, ts, method, path, headers, body):
    """The webhook's v2 signature (README "Webhook"): HMAC-SHA256 over the canonical request."""
    signed = sorted((k.lower(), v) for k, v in headers.items()
                    if (k.lower().startswith("x-regsync-") or k.lower().startswith("ce-"))
                    and k.lower() not in ("x-regsync-timestamp", "x-regsync-signature"))
    lines = ["regsync-webhook-v2", str(ts), method.upper(), path, headers.get("content-type", "")]
    lines += [f"{k}:{v}" for k, v in signed]
    canonical = ("\n".join(lines) + "\n\n").encode() + body
    return "v2=" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()

def target(ev):
    q = ev.get("rawQueryString") or ""
    return ev["rawPath"] + (f"?{q}" if q else "")

def resign(path):
    import sys, time
    secret = os.environ.get("REGSYNC_WEBHOOK_SECRET", SECRET.decode()).encode()
    with open(path) as f:
        ev = json.load(f)
    body = base64.b64decode(ev["body"]) if ev.get("isBase64Encoded") else ev["body"].encode()
    ts = int(time.time())
    ev["headers"]["x-regsync-timestamp"] = str(ts)
    ev["headers"]["x-regsync-signature"] = sign_v2(
        secret, ts, ev["requestContext"]["http"]["method"], target(ev), ev["headers"], body)
    json.dump(ev, sys.stdout, indent=2)
    sys.stdout.write("\n")

def load(rel):
    with open(os.path.join(REC, rel), "rb") as f:
        return f.read()

def b64(b):
    return base64.b64encode(b).decode()

def header_bytes(s):
    # The mapping sends header values as signed bytes.
    return [x - 256 if x > 127 else x for x in s.encode()]

def key_of(event):
    return f'{event["registry"]}/{event.get("subject", "*")}'

def record(topic, partition, offset, ts, key, value, headers=()):
    r = {
        "topic": topic, "partition": partition, "offset": offset, "timestamp": ts,
        "timestampType": "CREATE_TIME",
        "key": None if key is None else b64(key.encode()),
        "value": None if value is None else b64(value),
        "headers": [{k: header_bytes(v)} for k, v in headers],
    }
    return r

def structured(topic, partition, offset, raw):
    ev = json.loads(raw)
    return record(topic, partition, offset, 1763800000000 + offset, key_of(ev), raw,
                  [("content-type", "application/cloudevents+json")])

def binary(topic, partition, offset, raw):
    ev = json.loads(raw)
    data = json.dumps(ev["data"], separators=(",", ":")).encode()
    headers = [("ce_" + k, str(v)) for k, v in ev.items()
               if k not in ("data", "datacontenttype")]
    headers.append(("content-type", ev.get("datacontenttype", "application/json")))
    return record(topic, partition, offset, 1763800000000 + offset, key_of(ev), data, headers)

def kafka_event(source, arn_or_none, servers, records):
    grouped = {}
    for r in records:
        grouped.setdefault(f'{r["topic"]}-{r["partition"]}', []).append(r)
    ev = {"eventSource": source}
    if arn_or_none:
        ev["eventSourceArn"] = arn_or_none
    ev["bootstrapServers"] = servers
    ev["records"] = grouped
    return ev

def write(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")

import sys as _sys
if len(_sys.argv) == 3 and _sys.argv[1] == "--sign":
    resign(_sys.argv[2])
    _sys.exit(0)

MSK_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/regsync-demo/7d2b9c4e-1f3a-4b6d-9e8f-0a1b2c3d4e5f-1"
MSK_SERVERS = "b-1.regsync-demo.abc123.c2.kafka.us-east-1.amazonaws.com:9098,b-2.regsync-demo.abc123.c2.kafka.us-east-1.amazonaws.com:9098"
SELF_SERVERS = "kafka-1.internal.example:9092,kafka-2.internal.example:9092"
T = "registry-events"

scale = [load(f"dubbo-zk/scale-down/{n}") for n in sorted(os.listdir(os.path.join(REC, "dubbo-zk/scale-down")))]
life = [load(f"eureka-events/instance-lifecycle/{n}") for n in sorted(os.listdir(os.path.join(REC, "eureka-events/instance-lifecycle")))]

def scenario(rel):
    d = os.path.join(REC, rel)
    return [load(f"{rel}/{n}") for n in sorted(os.listdir(d))]

# Two partitions, as a service-keyed producer spreads them.
tri = scenario("dubbo-zk/dubbo3-tri-and-app-level")
write("kafka-msk-structured.json", kafka_event("aws:kafka", MSK_ARN, MSK_SERVERS,
      [structured(T, i % 2, 100 + i, raw) for i, raw in enumerate(tri)]))
docs = scenario("eureka-events/two-apps-mixed-shapes") + scenario("eureka-events/steeltoe-add-then-modify")
write("kafka-self-managed-binary.json", kafka_event("SelfManagedKafka", None, SELF_SERVERS,
      [binary(T, 3, 40 + i, raw) for i, raw in enumerate(docs)]))
poison = [
    structured(T, 1, 7, scale[0]),
    record(T, 1, 8, 1763800000008, "dubbo/broken", b'{"specversion": "1.0", "id": ', []),
    record(T, 1, 9, 1763800000009, "dubbo/tombstone", None, []),
    structured(T, 2, 30, json.dumps(dict(json.loads(life[0]), type="io.regsync.eureka.teleport.v1")).encode()),
    structured(T, 1, 10, scale[1]),
]
write("kafka-msk-poison.json", kafka_event("aws:kafka", MSK_ARN, MSK_SERVERS, poison))

def http(body, headers, base64_body, route, request_id):
    hs = {"host": "abcdefghij.lambda-url.us-east-1.on.aws", "user-agent": "regsync-bridge/0.1",
          "x-regsync-timestamp": str(SIGNED_AT)}
    hs.update(headers)
    hs["x-regsync-signature"] = sign_v2(SECRET, SIGNED_AT, "POST", "/events", hs, body)
    return {
        "version": "2.0", "routeKey": route, "rawPath": "/events", "rawQueryString": "",
        "headers": hs,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abcdefghij", "domainName": hs["host"],
            "domainPrefix": "abcdefghij",
            "http": {"method": "POST", "path": "/events", "protocol": "HTTP/1.1",
                     "sourceIp": "10.0.12.7", "userAgent": "regsync-bridge/0.1"},
            "requestId": request_id, "routeKey": route, "stage": "$default",
            "time": "22/Nov/2025:08:26:40 +0000", "timeEpoch": SIGNED_AT * 1000,
        },
        "body": b64(body) if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }

write("webhook-function-url-structured.json",
      http(life[0], {"content-type": "application/cloudevents+json"}, False, "$default",
           "5f0c6b2e-8d4a-4e1b-9c3f-2a7d1e6b8c90"))
write("webhook-apigw-v2-raw-eureka.json",
      http(load("eureka/single-app/001-application.json"),
           {"content-type": "application/json", "x-regsync-type": "io.regsync.eureka.application.v1",
            "x-regsync-registry": "eureka"}, True, "POST /events",
           "Jx3kLhUiIAMEVxw="))
