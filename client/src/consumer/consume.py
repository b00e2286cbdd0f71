"""Read a rollcall node's events, checking each one's signature and body hash.

    pip install grpcio grpcio-tools protobuf cryptography
    python consume.py [--after CURSOR]

Prints one line per event: cursor, kind, unit, replica (first 8 hex digits):seq; then
waits for live events (Ctrl-C stops). Keep the last cursor you processed and resume
with --after CURSOR: nothing is missed and nothing repeats. The files it uses sit next
to it; the first run generates Python modules from proto/ into .stubs/.
"""
import argparse, hashlib, json, pathlib, sys

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HERE = pathlib.Path(__file__).resolve().parent


def stubs(bundle_dir=HERE):
    """The modules generated from bundle_dir/proto: (event_pb2, node_pb2, node_pb2_grpc)."""
    proto, out = pathlib.Path(bundle_dir) / "proto", pathlib.Path(bundle_dir) / ".stubs"
    if not (out / "rollcall/v1/node_pb2_grpc.py").exists():
        from grpc_tools import protoc
        out.mkdir(exist_ok=True)
        files = [str(f.relative_to(proto)) for f in proto.rglob("*.proto")]
        if protoc.main(["protoc", f"-I{proto}", f"--python_out={out}", f"--grpc_python_out={out}", *files]):
            sys.exit(f"could not generate Python modules from {proto}")
    sys.path.insert(0, str(out))
    from rollcall.v1 import event_pb2, node_pb2, node_pb2_grpc
    return event_pb2, node_pb2, node_pb2_grpc


def connect(bundle_dir=HERE):
    """A channel to the node: TLS with this consumer's certificate, trusting the node's only."""
    read = lambda name: (pathlib.Path(bundle_dir) / name).read_bytes()
    connection = json.loads(read("connection.json"))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read("node.pem"), private_key=read("client.key"), certificate_chain=read("client.pem"))
    # The node's certificate names no host: check it against the name it does carry.
    options = [("grpc.ssl_target_name_override", connection["target_name"])]
    return grpc.secure_channel(connection["address"], credentials, options=options)


def verify(event, event_pb2):
    """The decoded header of a SignedEvent, once its signature and body hash check out (else raises)."""
    header = event_pb2.EventHeader.FromString(event.header)
    # Signed by the log's writer over the header's exact bytes (raises InvalidSignature).
    Ed25519PublicKey.from_public_bytes(header.replica).verify(event.signature, event.header)
    # A stub (no body) still names its body's hash; a body must match it.
    if event.HasField("body") and hashlib.sha256(event.body).digest() != header.body_hash:
        raise ValueError(f"body hash mismatch: {header.replica.hex()[:8]}:{header.seq}")
    return header


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=int, default=0, metavar="CURSOR", help="last cursor processed (0: none)")
    after = parser.parse_args().after
    event_pb2, node_pb2, node_pb2_grpc = stubs()
    kinds = {number: name for name, number in event_pb2.EventKind.items()}  # else: a newer kind's number
    with connect() as channel:
        for response in node_pb2_grpc.NodeStub(channel).Subscribe(node_pb2.SubscribeRequest(after=after)):
            for item in response.events:
                header = verify(item.event, event_pb2)
                replica = f"{header.replica.hex()[:8]}:{header.seq}"
                print(item.cursor, kinds.get(header.kind, header.kind), header.unit_path, replica, flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except grpc.RpcError as error:
        sys.exit(f"Subscribe failed: {error.code().name}: {error.details()}")
