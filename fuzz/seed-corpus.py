#!/usr/bin/env python3
"""Writes the seed corpora of the CloudEvent, webhook and Kafka record fuzz targets from the
committed payloads in events/ (recordings and Lambda payloads), in the text form the targets read
(fuzz/src/lib.rs: a first line, `name: value` header lines, an empty line, the body).
Run from anywhere after events/ changes; it replaces fuzz/corpus/{cloudevent_structured,
webhook_request,kafka_record}/."""

import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
CORPUS = ROOT / "fuzz" / "corpus"
ATTRIBUTES = ["specversion", "id", "source", "type", "subject", "time", "registry", "sourceversion"]


def recorded_events():
    """(name, raw file bytes, parsed event) for every recorded CloudEvent."""
    for scenario_dir in ["eureka-events", "dubbo-zk"]:
        for path in sorted((EVENTS / "recordings" / scenario_dir).glob("*/*.json")):
            if path.parent.name == "raw":
                continue
            raw = path.read_bytes()
            yield f"{path.parent.name}-{path.stem}", raw, json.loads(raw)


def message(first, headers, body):
    head = "\n".join([first] + [f"{k}: {v}" for k, v in headers]).encode()
    return head + b"\n\n" + body


def data_body(event):
    """The data a binary-mode transport carries, and its content type."""
    data = event["data"]
    content_type = event.get("datacontenttype", "application/json")
    if isinstance(data, str) and "xml" in content_type:
        return data.encode(), content_type
    return json.dumps(data, separators=(",", ":")).encode(), content_type


def binary_headers(event, prefix):
    return [(prefix + a, str(event[a])) for a in ATTRIBUTES if a in event]


def write(target, seeds):
    """Replaces the target's seeds, keeping `regression-*` files: inputs that once crashed it."""
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if not old.name.startswith("regression-"):
            old.unlink()
    for name, data in seeds:
        (out / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def main():
    events = list(recorded_events())

    write("cloudevent_structured", [(name, raw) for name, raw, _ in events])

    webhook = []
    for path in sorted((EVENTS / "lambda").glob("webhook-*.json")):
        req = json.loads(path.read_text())
        body = req.get("body", "").encode()
        if req.get("isBase64Encoded"):
            body = base64.b64decode(body)
        method = req["requestContext"]["http"]["method"]
        query = f"?{req['rawQueryString']}" if req.get("rawQueryString") else ""
        webhook.append((path.stem, message(f"{method} {req['rawPath']}{query}", req["headers"].items(), body)))
    for name, _, event in events:
        body, content_type = data_body(event)
        webhook.append((f"binary-{name}", message("POST /events", [("content-type", content_type)] + binary_headers(event, "ce-"), body)))
    for name, raw, _ in events[:3]:
        webhook.append((f"structured-{name}", message("POST /events", [("content-type", "application/cloudevents+json")], raw)))
    batch = json.dumps([e for _, _, e in events[:2]]).encode()
    webhook.append(("batch", message("POST /events", [("content-type", "application/cloudevents-batch+json")], batch)))
    # Raw registry payloads, their type declared in headers.
    for path in sorted((EVENTS / "recordings" / "eureka").glob("*/*")):
        content_type = "application/xml" if path.suffix == ".xml" else "application/json"
        kind = "applications" if "apps" in path.stem else "application"
        headers = [("content-type", content_type), ("x-regsync-type", f"io.regsync.eureka.{kind}.v1"), ("x-regsync-registry", "eureka")]
        webhook.append((f"raw-{path.parent.name}-{path.stem}", message("POST /events", headers, path.read_bytes())))
    for name, _, event in events:
        if event["type"].startswith("io.regsync.zookeeper."):
            body, _ = data_body(event)
            headers = [("content-type", "application/json"), ("x-regsync-type", event["type"]), ("x-regsync-source-version", event["sourceversion"])]
            webhook.append((f"raw-{name}", message("POST /events", headers, body)))
            break
    write("webhook_request", webhook)

    kafka = []
    for path in sorted((EVENTS / "lambda").glob("kafka-*.json")):
        payload = json.loads(path.read_text())
        for records in payload["records"].values():
            for r in records:
                headers = [(k, bytes(v).decode("utf-8", "replace")) for h in r.get("headers", []) for k, v in h.items()]
                value = base64.b64decode(r["value"]) if r.get("value") is not None else b""
                first = "record" if r.get("value") is not None else "tombstone"
                kafka.append((f"{path.stem}-{r['partition']}-{r['offset']}", message(first, headers, value)))
    for name, raw, event in events:
        body, content_type = data_body(event)
        kafka.append((f"binary-{name}", message("record", binary_headers(event, "ce_") + [("content-type", content_type)], body)))
    write("kafka_record", kafka)


if __name__ == "__main__":
    main()
