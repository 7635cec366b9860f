#!/usr/bin/env python3
"""A Python client of the wasmtrade gRPC API, generated from the .proto files.

Usage:

    grpc_client.py --proto-dir proto --server 127.0.0.1:50051 --token TOKEN \\
        --wasm target/wasm32-wasip2/guest/sma_cross.wasm --name sma-py

Generates the Python stubs with `grpc_tools.protoc` into a temporary
directory (as any client in another language would), then against a running
`wasmtrade serve`:

1. checks that a call without the token fails with UNAUTHENTICATED;
2. uploads the component with StrategyService.Upload (a header message with
   the hex sha256, then 64 KiB data messages);
3. calls List and checks the module is there;
4. activates the uploaded version;
5. reads TradingService.StreamEvents(include_bars=True) until it has seen
   --events events (default 50) within --deadline seconds (default 30).

Prints ONE JSON line on stdout:

    {"uploaded_version": 1, "listed": ["sma-py"], "events": 50,
     "first_seq": 12, "last_seq": 61, "seqs_increasing": true,
     "unauthenticated_ok": true}

Exit status 0 when every check passed; 1 with a message on stderr when a
call failed or a check did not hold (the JSON line is still printed when the
run got that far); 2 for usage errors.

`--stubs-only` only generates and imports the stubs (no server needed).

Needs `grpcio-tools` (pip install grpcio-tools; `make python` installs it
into target/pyenv).
"""

import argparse
import hashlib
import importlib
import json
import pathlib
import sys
import tempfile

CHUNK_SIZE = 64 * 1024
PROTO = "wasmtrade/v1/wasmtrade.proto"


class Failure(Exception):
    """A failed call or check: one line for stderr."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Exercise the wasmtrade gRPC API from Python (stubs generated with grpc_tools.protoc)."
    )
    p.add_argument("--proto-dir", required=True, type=pathlib.Path,
                   help="directory holding wasmtrade/v1/wasmtrade.proto (the repository's proto/)")
    p.add_argument("--server", help="host:port of `wasmtrade serve`")
    p.add_argument("--token", help="API token (sent as `authorization: Bearer <token>`)")
    p.add_argument("--wasm", type=pathlib.Path, help="the component to upload")
    p.add_argument("--name", help="module name to upload it as")
    p.add_argument("--kind", choices=["strategy", "indicator"], default="strategy",
                   help="guest kind (default: strategy)")
    p.add_argument("--config", default="", help="guest configuration as a JSON object (default: {})")
    p.add_argument("--events", type=int, default=50, help="events to read from the stream (default: 50)")
    p.add_argument("--deadline", type=float, default=30.0,
                   help="seconds allowed for reading the events (default: 30)")
    p.add_argument("--stubs-only", action="store_true",
                   help="only generate and import the stubs, print where, and exit")
    args = p.parse_args(argv)
    if not args.stubs_only:
        missing = [f"--{n}" for n in ("server", "token", "wasm", "name") if not getattr(args, n)]
        if missing:
            p.error(f"missing {', '.join(missing)} (or pass --stubs-only)")
    if args.events < 1:
        p.error("--events must be at least 1")
    return args


def generate_stubs(proto_dir, out_dir):
    """Runs grpc_tools.protoc on the API and imports the generated modules."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise Failure("grpcio-tools is not installed: `pip install grpcio-tools` (or `make python`)")
    proto_dir = pathlib.Path(proto_dir).resolve()
    if not (proto_dir / PROTO).is_file():
        raise Failure(f"{proto_dir / PROTO} does not exist: --proto-dir must be the repository's proto/")
    # protoc's own include dir, for the well-known types.
    well_known = pathlib.Path(protoc.__file__).parent / "_proto"
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(proto_dir / PROTO),
    ])
    if rc != 0:
        raise Failure(f"grpc_tools.protoc failed on {proto_dir / PROTO} (exit {rc}; see above)")
    sys.path.insert(0, str(out_dir))
    pb2 = importlib.import_module("wasmtrade.v1.wasmtrade_pb2")
    pb2_grpc = importlib.import_module("wasmtrade.v1.wasmtrade_pb2_grpc")
    return pb2, pb2_grpc


def upload_chunks(pb2, header, data):
    """The Upload stream: the header first, then the bytes in 64 KiB pieces."""
    yield pb2.UploadChunk(header=header)
    for start in range(0, len(data), CHUNK_SIZE):
        yield pb2.UploadChunk(data=data[start:start + CHUNK_SIZE])


def call(rpc, fn, *args, **kwargs):
    """Calls fn and turns a gRPC error into a Failure naming the RPC."""
    import grpc

    try:
        return fn(*args, **kwargs)
    except grpc.RpcError as e:
        raise Failure(f"{rpc} failed: {e.code().name}: {e.details()}") from None


def check_unauthenticated(pb2, strategies):
    """A call without the token must fail with UNAUTHENTICATED."""
    import grpc

    try:
        strategies.List(pb2.ListRequest(), timeout=10)
    except grpc.RpcError as e:
        return e.code() == grpc.StatusCode.UNAUTHENTICATED, e.code().name
    return False, "OK"


def read_events(pb2, trading, auth, count, deadline):
    """Sequence numbers of the first `count` events of StreamEvents."""
    import grpc

    seqs = []
    stream = trading.StreamEvents(pb2.StreamEventsRequest(include_bars=True), metadata=auth, timeout=deadline)
    try:
        for event in stream:
            seqs.append(event.seq)
            if len(seqs) >= count:
                break
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Failure(f"TradingService/StreamEvents: only {len(seqs)} of {count} events in {deadline} s")
        raise Failure(f"TradingService/StreamEvents failed: {e.code().name}: {e.details()}") from None
    finally:
        stream.cancel()
    if len(seqs) < count:
        raise Failure(f"TradingService/StreamEvents ended after {len(seqs)} of {count} events")
    return seqs


def run(args, pb2, pb2_grpc):
    import grpc

    server = args.server.removeprefix("http://")
    try:
        data = args.wasm.read_bytes()
    except OSError as e:
        raise Failure(f"cannot read the component {args.wasm}: {e.strerror}")
    if args.config:
        try:
            json.loads(args.config)
        except ValueError as e:
            raise Failure(f"--config is not valid JSON: {e}")
    auth = [("authorization", f"Bearer {args.token}")]

    with grpc.insecure_channel(server) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            raise Failure(f"cannot reach the wasmtrade server at {server}: is `wasmtrade serve` running?")
        strategies = pb2_grpc.StrategyServiceStub(channel)
        trading = pb2_grpc.TradingServiceStub(channel)

        unauthenticated_ok, unauth_code = check_unauthenticated(pb2, strategies)

        header = pb2.UploadHeader(
            name=args.name,
            kind=pb2.GUEST_KIND_STRATEGY if args.kind == "strategy" else pb2.GUEST_KIND_INDICATOR,
            label="python",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            config_json=args.config,
        )
        uploaded = call("StrategyService/Upload", strategies.Upload,
                        upload_chunks(pb2, header, data), metadata=auth, timeout=60)

        listed = call("StrategyService/List", strategies.List, pb2.ListRequest(), metadata=auth, timeout=10)
        names = [m.name for m in listed.modules]
        if args.name not in names:
            raise Failure(f"StrategyService/List does not show `{args.name}` after the upload: {names}")

        call("StrategyService/Activate", strategies.Activate,
             pb2.ActivateRequest(name=args.name, version=uploaded.version), metadata=auth, timeout=30)

        seqs = read_events(pb2, trading, auth, args.events, args.deadline)

    report = {
        "uploaded_version": uploaded.version,
        "listed": names,
        "events": len(seqs),
        "first_seq": seqs[0],
        "last_seq": seqs[-1],
        "seqs_increasing": all(a < b for a, b in zip(seqs, seqs[1:])),
        "unauthenticated_ok": unauthenticated_ok,
    }
    print(json.dumps(report), flush=True)
    if not unauthenticated_ok:
        raise Failure(f"a call without the token returned {unauth_code}, expected UNAUTHENTICATED")
    if not report["seqs_increasing"]:
        raise Failure(f"event sequence numbers are not strictly increasing: {seqs}")


def main(argv):
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="wasmtrade-stubs-") as out_dir:
            pb2, pb2_grpc = generate_stubs(args.proto_dir, out_dir)
            if args.stubs_only:
                print(json.dumps({
                    "stubs": sorted(str(p.relative_to(out_dir)) for p in pathlib.Path(out_dir).rglob("*.py")),
                    "services": sorted(pb2.DESCRIPTOR.services_by_name),
                }))
                return 0
            run(args, pb2, pb2_grpc)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
