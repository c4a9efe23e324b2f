#!/usr/bin/env python3
"""Interoperability check with stock tooling from another language (Python):

- gRPC: stubs generated from proto/ by grpcio-tools (protoc as a Python package), then all
  four call modes against `wirebench serve`, plus the standard health service;
- GraphQL: a plain HTTP POST of the standard introspection query;
- WebSocket: a plain client (the `websockets` package) gets replies and a pushed event;
- GraphQL subscription over graphql-transport-ws delivers an event;
- TLS on the same ports (the server runs with `--tls`): HTTPS with Python's own `ssl`
  (TLS 1.3, ALPN), gRPC over TLS, and `wss`, each trusting only the certificate the server
  made at start; the checks above run in plaintext against the same server.

Usage: interop/check.py --binary target/debug/wirebench
Needs: pip install grpcio grpcio-tools websockets (the CI script installs them).
Exits non-zero, naming the failed step, when anything disagrees.
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request

from serving import serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate_stubs(out):
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{include}",
                      f"--python_out={out}", f"--grpc_python_out={out}", "wirebench/v1/shop.proto"])
    if rc != 0:
        sys.exit("protoc (grpcio-tools) failed to compile proto/wirebench/v1/shop.proto")
    for d in ("wirebench", "wirebench/v1"):
        open(os.path.join(out, d, "__init__.py"), "a").close()
    sys.path.insert(0, out)


def new_order(pb, user_id):
    return pb.NewOrder(
        user_id=user_id, currency="EUR",
        items=[pb.LineItem(sku="SKU-PY", name="python", quantity=2, unit_price_cents=125)],
        shipping_address=pb.Address(line1="1 Interop St", city="Lisbon", region="LI",
                                    postal_code="1000", country="PT"))


def check_grpc(addr):
    import grpc

    from wirebench.v1 import shop_pb2 as pb, shop_pb2_grpc as rpc
    with grpc.insecure_channel(addr) as ch:
        shop = rpc.ShopStub(ch)
        user = shop.GetUser(pb.GetUserRequest(id=1))                      # unary
        assert user.id == 1 and user.name and user.address.city, user
        orders = list(shop.ListOrders(pb.ListOrdersRequest(limit=5)))    # server streaming
        assert [o.id for o in orders] == [1, 2, 3, 4, 5], [o.id for o in orders]
        reqs = (pb.CreateOrderRequest(idempotency_key=f"py-{time.time_ns()}-{i}", order=new_order(pb, 2))
                for i in range(3))
        summary = shop.ImportOrders(reqs)                                  # client streaming
        assert summary.received == 3 and summary.created == 3 and summary.total_cents == 750, summary
        replies = list(shop.TrackOrders(iter([pb.TrackRequest(correlation_id=i, order_id=oid)
                                              for i, oid in enumerate([3, 1, 999999])])))  # bidi
        assert [r.correlation_id for r in replies] == [0, 1, 2]
        assert replies[0].order.id == 3 and replies[1].order.id == 1
        assert replies[2].error.code == "NOT_FOUND", replies[2]
        try:
            shop.GetUser(pb.GetUserRequest(id=999999))
            raise AssertionError("missing user did not fail")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
        # The standard health service and server reflection, with the stock Python clients.
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="wirebench.v1.Shop"))
        assert health.status == health_pb2.HealthCheckResponse.SERVING, health
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
        services = ProtoReflectionDescriptorDatabase(ch).get_services()
        assert "wirebench.v1.Shop" in services and "grpc.health.v1.Health" in services, services
        shop_file = ProtoReflectionDescriptorDatabase(ch).FindFileContainingSymbol("wirebench.v1.Shop")
        assert shop_file.name.endswith("shop.proto"), shop_file.name
    print("grpc: unary, server streaming, client streaming and bidirectional calls from generated Python stubs: ok")
    print("grpc: health SERVING and server reflection lists the Shop service: ok")


def check_grpc_web(addr):
    """gRPC-Web the way a browser calls gRPC: binary application/grpc-web+proto POSTs over
    HTTP/1.1, from a stock gRPC-Web client (sonora) driving the same generated stubs."""
    import grpc
    import sonora.client
    from wirebench.v1 import shop_pb2 as pb, shop_pb2_grpc as rpc

    class WebChannel(sonora.client.WebChannel):
        # Stubs from grpcio-tools >= 1.62 pass _registered_method, which sonora 0.2.3 does
        # not take (public/sonora#66); the call itself is sonora's.
        def unary_unary(self, path, request_serializer=None, response_deserializer=None, **_):
            return super().unary_unary(path, request_serializer, response_deserializer)

        def unary_stream(self, path, request_serializer=None, response_deserializer=None, **_):
            return super().unary_stream(path, request_serializer, response_deserializer)

        def stream_unary(self, path, request_serializer=None, response_deserializer=None, **_):
            return super().stream_unary(path, request_serializer, response_deserializer)

        def stream_stream(self, path, request_serializer=None, response_deserializer=None, **_):
            return super().stream_stream(path, request_serializer, response_deserializer)

    with WebChannel(f"http://{addr}") as ch:
        stub = rpc.ShopStub(ch)
        user, call = stub.GetUser.with_call(pb.GetUserRequest(id=1), timeout=10)
        assert user.id == 1 and user.name, user
        orders = list(stub.ListOrders(pb.ListOrdersRequest(limit=3), timeout=10))
        assert [o.id for o in orders] == [1, 2, 3], [o.id for o in orders]
        try:
            stub.GetUser(pb.GetUserRequest(id=2**40), timeout=10)
            raise AssertionError("an unknown user was found over gRPC-Web")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
    print("grpc-web: unary and server streaming over HTTP/1.1 (application/grpc-web+proto) from sonora: ok")


def check_graphql(base):
    introspection = {"query": "query { __schema { queryType { name } types { name kind } } }"}
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps(introspection).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        schema = json.load(r)["data"]["__schema"]
    names = {t["name"] for t in schema["types"]}
    assert schema["queryType"]["name"] == "Query" and {"User", "Order", "OrderStatus"} <= names, names
    print(f"graphql: introspection over a plain HTTP POST returned {len(names)} types: ok")


async def check_ws(ws_url, graphql_ws_url, rest_base):
    import websockets
    # Without compression, then with the library's default offer of permessage-deflate.
    async with websockets.connect(ws_url, compression=None) as plain:
        assert plain.response.headers.get("Sec-WebSocket-Extensions") is None
        await plain.send(json.dumps({"op": "get_user", "id": 1, "user_id": 1}))
        reply = json.loads(await asyncio.wait_for(plain.recv(), 10))
        assert reply["type"] == "reply" and reply["data"]["id"] == 1, reply
    async with websockets.connect(ws_url) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert extensions.startswith("permessage-deflate"), extensions
        await ws.send(json.dumps({"op": "get_user", "id": 1, "user_id": 1}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["type"] == "reply" and reply["id"] == 1 and reply["data"]["id"] == 1, reply
        # Compressed messages both ways, each one using the window of the ones before.
        for i in range(3):
            await ws.send(json.dumps({"op": "list_orders", "id": 10 + i, "limit": 50}))
            page = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert page["id"] == 10 + i and len(page["data"]["data"]) == 50, page
        print(f"ws: permessage-deflate agreed with a stock client ({extensions}); compressed pages read: ok")
        await ws.send(json.dumps({"op": "subscribe_events", "id": 2}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "reply" and ack["data"]["subscribed"], ack
        async with websockets.connect(graphql_ws_url, subprotocols=["graphql-transport-ws"]) as gws:
            await gws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(gws.recv(), 10))["type"] == "connection_ack"
            await gws.send(json.dumps({"id": "s1", "type": "subscribe",
                                       "payload": {"query": "subscription { orderEvents { seq kind order { id } } }"}}))
            await asyncio.sleep(0.3)  # let the subscription register before the event happens
            body = json.dumps({"user_id": 3, "currency": "EUR",
                               "items": [{"sku": "SKU-PY", "name": "py", "quantity": 1, "unit_price_cents": 99}],
                               "shipping_address": {"line1": "1", "line2": "", "city": "X", "region": "Y",
                                                    "postal_code": "1", "country": "PT"}}).encode()
            req = urllib.request.Request(f"{rest_base}/v1/orders", data=body,
                                         headers={"content-type": "application/json"})
            created = json.load(urllib.request.urlopen(req, timeout=10))
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert event["type"] == "event" and event["data"]["order"]["id"] == created["id"], event
            msg = json.loads(await asyncio.wait_for(gws.recv(), 10))
            assert msg["type"] == "next" and msg["payload"]["data"]["orderEvents"]["order"]["id"] == str(created["id"]), msg
    print("ws: plain WebSocket client got a reply and a pushed event: ok")
    print("graphql: subscription over graphql-transport-ws delivered the event: ok")


def check_tls(addrs, cert):
    import ssl

    import grpc
    import websockets

    from wirebench.v1 import shop_pb2 as pb, shop_pb2_grpc as rpc
    ctx = ssl.create_default_context(cafile=cert)
    ctx.set_alpn_protocols(["http/1.1"])
    with urllib.request.urlopen(f"https://{addrs['rest']}/v1/users/1", context=ctx, timeout=10) as r:
        user = json.loads(r.read())
        assert r.status == 200 and user["id"] == 1, user
    import socket
    host, port = addrs["rest"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() == "TLSv1.3" and tls.selected_alpn_protocol() == "http/1.1", \
                (tls.version(), tls.selected_alpn_protocol())
    with open(cert, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(addrs["grpc"], creds) as ch:
        user = rpc.ShopStub(ch).GetUser(pb.GetUserRequest(id=1), timeout=10)
        assert user.id == 1, user

    async def wss():
        wss_ctx = ssl.create_default_context(cafile=cert)
        async with websockets.connect(f"wss://{addrs['ws']}/ws", ssl=wss_ctx, open_timeout=10) as ws:
            await ws.send(json.dumps({"op": "get_user", "id": 1, "user_id": 1}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] == "reply" and reply["id"] == 1 and reply["data"]["id"] == 1, reply
    asyncio.run(wss())
    print("tls: HTTPS (TLS 1.3, ALPN http/1.1), gRPC over TLS and wss, trusting the server's own certificate: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "wirebench"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="wirebench-interop-")
    generate_stubs(work)
    with serving(args.binary, work, tls=True) as addrs:
        check_grpc(addrs["grpc"])
        check_grpc_web(addrs["grpc"])
        check_graphql(f"http://{addrs['graphql']}")
        asyncio.run(check_ws(f"ws://{addrs['ws']}/ws", f"ws://{addrs['graphql']}/graphql/ws", f"http://{addrs['rest']}"))
        check_tls(addrs, os.path.join(work, "cert.pem"))
        print("interop: 7 passed, 0 failed")


if __name__ == "__main__":
    main()
