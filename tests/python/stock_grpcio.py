#!/usr/bin/env python3
"""Stock grpcio (BoringSSL) against a rollcall node, the way a data team connects.

    stock_grpcio.py --bundle DIR --backlog N --live M --disconnects K [--seed S] [--deadline SECONDS]

DIR is what `rollcall consumer --out DIR` wrote; its consume.py is imported and used as
is (its channel, its generated modules, its checks), so this tests the example too.

  a. health: grpc.health.v1 Check answers SERVING for "" and for rollcall.v1.Node;
  b. reflection, v1alpha and v1: rollcall.v1.Node is listed, and the files containing it
     are node.proto and event.proto; a stock descriptor pool fed by reflection resolves
     Node.Subscribe and its messages;
  c. Subscribe from 0, cancelling the call at K or more random points (after a random
     number of events, also in the middle of a response; and right after a caught_up),
     sometimes on a new channel, resuming each time after the last cursor processed;
  d. every event exactly once (no (replica, seq), event id or cursor twice; cursors
     strictly increasing across resumes), each signature and body hash verified, each
     replica's chain checked from seq 1 wherever seq 1 was received.

Standard output, one line each, flushed (diagnostics go to standard error):
  CAUGHT_UP <count>  N events are in and the node said caught_up: append the M live
                     events now (the driver keeps subscribing, with disconnects)
  RESULT <json>      all N+M events in and every check passed; exit status 0
On a failed check, an RPC error or the deadline: a message on standard error starting
"stock_grpcio: FAILED", exit status 1 (argparse's usage errors exit 2).
"""
import argparse
import hashlib
import json
import os
import random
import sys
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

NODE_SERVICE = "rollcall.v1.Node"
NODE_FILES = {"rollcall/v1/node.proto", "rollcall/v1/event.proto"}
ZERO_HASH = bytes(32)


class Failed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise Failed(message)


def log(message):
    print(f"stock_grpcio: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="the directory `rollcall consumer --out` wrote")
    parser.add_argument("--backlog", type=int, required=True, metavar="N", help="events the node holds at the start")
    parser.add_argument("--live", type=int, required=True, metavar="M", help="events appended after CAUGHT_UP")
    parser.add_argument("--disconnects", type=int, required=True, metavar="K", help="at least this many (>= 5)")
    parser.add_argument("--seed", type=int, default=None, help="for the random disconnects (default: random)")
    parser.add_argument("--deadline", type=float, default=300.0, metavar="SECONDS", help="give up after (300)")
    args = parser.parse_args(argv)
    if args.disconnects < 5:
        parser.error("--disconnects must be at least 5")
    if args.backlog < 0 or args.live < 0:
        parser.error("--backlog and --live must not be negative")
    args.bundle = os.path.abspath(args.bundle)
    if not os.path.isfile(os.path.join(args.bundle, "consume.py")):
        parser.error(f"{args.bundle} has no consume.py")
    if args.seed is None:
        args.seed = random.randrange(2**32)
    return args


class Deadline:
    """Time left for each RPC, and a watchdog that ends the process if anything hangs anyway."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        watchdog = threading.Timer(seconds + 15, self._expired)
        watchdog.daemon = True
        watchdog.start()

    def _expired(self):
        log(f"FAILED: still running {self.seconds + 15:.0f} s after the start")
        os._exit(1)

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise Failed(f"the deadline ({self.seconds:.0f} s) passed")
        return left


# ---- a. health ----


def check_health(channel, deadline):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", NODE_SERVICE):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline.left()).status
        require(
            status == health_pb2.HealthCheckResponse.SERVING,
            f"health of {service or 'the server'!r} is {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}",
        )


# ---- b. reflection ----


def reflect(channel, version, request, deadline):
    """One question to grpc.reflection.<version>.ServerReflection; its one answer.

    grpcio-reflection ships v1alpha's stubs only. v1's messages are v1alpha's field for
    field under a new package name (which never goes on the wire), so v1 is asked with
    the same messages at its own method path."""
    if version == "v1alpha":
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo
    else:
        call = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
    answers = list(call(iter([request]), timeout=deadline.left()))
    require(len(answers) == 1, f"reflection {version}: {len(answers)} answers to one question")
    answer = answers[0]
    require(
        not answer.HasField("error_response"),
        f"reflection {version}: error {answer.error_response.error_code}: {answer.error_response.error_message}",
    )
    return answer


def check_reflection(channel, deadline):
    for version in ("v1alpha", "v1"):
        listed = reflect(channel, version, reflection_pb2.ServerReflectionRequest(list_services=""), deadline)
        services = [service.name for service in listed.list_services_response.service]
        require(NODE_SERVICE in services, f"reflection {version}: {NODE_SERVICE} not among {services}")
        found = reflect(
            channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=NODE_SERVICE), deadline
        )
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(file).name
            for file in found.file_descriptor_response.file_descriptor_proto
        ]
        require(NODE_FILES <= set(files), f"reflection {version}: the files containing {NODE_SERVICE} are {files}")
    # As stock tools use it: a descriptor pool that asks reflection for what it lacks.
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    subscribe = pool.FindServiceByName(NODE_SERVICE).FindMethodByName("Subscribe")
    require(subscribe.server_streaming, "Node.Subscribe is not server streaming")
    response = subscribe.output_type
    require(
        response.full_name == "rollcall.v1.SubscribeResponse"
        and response.fields_by_name["events"].message_type.fields_by_name["event"].message_type.full_name
        == "rollcall.v1.SignedEvent",
        f"Node.Subscribe answers {response.full_name}",
    )


# ---- c, d. subscribe with disconnects, and what was received ----


class Received:
    """Every event received, checked as it comes in."""

    def __init__(self, consume, event_pb2):
        self.consume, self.event_pb2 = consume, event_pb2
        self.count = 0
        self.last_cursor = 0
        self.where = {}  # (replica, seq) -> cursor
        self.event_ids = {}  # event id -> cursor
        self.logs = {}  # replica -> {seq: (header bytes, prev)}
        self.last_seq = {}  # replica -> the last seq received
        self.bodies = self.stubs = 0

    def add(self, item):
        cursor, event = item.cursor, item.event
        require(cursor > self.last_cursor, f"cursor {cursor} after cursor {self.last_cursor}")
        try:
            header = self.consume.verify(event, self.event_pb2)
        except Exception as error:  # InvalidSignature, a body hash mismatch, a header that does not decode
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise Failed(f"event at cursor {cursor} does not verify: {reason}") from error
        name = f"{header.replica.hex()[:8]}:{header.seq}"
        require(len(header.replica) == 32 and len(event.signature) == 64, f"{name}: key or signature length")
        require(len(header.event_id) == 16 and len(header.body_hash) == 32, f"{name}: event id or body hash length")
        require(len(header.prev) == 32 and header.seq >= 1, f"{name}: prev length or seq 0")
        # CONSUMERS.md: re-encoding a decoded header gives the bytes that were signed.
        require(header.SerializeToString() == event.header, f"{name}: the header does not re-encode to its bytes")
        key = (header.replica, header.seq)
        require(key not in self.where, f"{name} at cursor {cursor} and again at cursor {self.where.get(key)}")
        require(
            header.event_id not in self.event_ids,
            f"event id {header.event_id.hex()} at cursor {cursor} and at cursor {self.event_ids.get(header.event_id)}",
        )
        # The node stores each log in seq order (an event's prev must be held), so its
        # ingest order, which Subscribe follows, keeps each replica's seqs increasing.
        last_seq = self.last_seq.get(header.replica, 0)
        require(header.seq > last_seq, f"{name} at cursor {cursor} after seq {last_seq} of its replica")
        self.last_seq[header.replica] = header.seq
        self.where[key] = cursor
        self.event_ids[header.event_id] = cursor
        self.logs.setdefault(header.replica, {})[header.seq] = (event.header, header.prev)
        if event.HasField("body"):
            self.bodies += 1
        else:
            self.stubs += 1
        self.last_cursor = cursor
        self.count += 1

    def check_chains(self):
        """Each replica's chain, from seq 1 where seq 1 came in; the links between any two
        consecutive seqs received otherwise. Returns (complete chains, links checked)."""
        complete = links = 0
        for replica, log_ in self.logs.items():
            name = replica.hex()[:8]
            if 1 in log_:
                require(log_[1][1] == ZERO_HASH, f"{name}:1: prev is not 32 zero bytes")
                missing = sorted(set(range(1, max(log_) + 1)) - set(log_))
                require(not missing, f"{name}: seqs {missing[:10]} missing below seq {max(log_)}")
                complete += 1
            for seq, (_, prev) in log_.items():
                if seq - 1 in log_:
                    previous = hashlib.sha256(log_[seq - 1][0]).digest()
                    require(prev == previous, f"{name}:{seq}: prev is not the hash of seq {seq - 1}'s header")
                    links += 1
        return complete, links


def plan_cuts(rng, backlog, live, disconnects):
    """The counts of events after which to cancel: some within the live events, the rest
    within the backlog. Fewer than `disconnects` when there are too few events; the
    difference is made up right after caught_up answers."""
    in_live = rng.sample(range(backlog + 1, backlog + live), min(max(live - 1, 0), max(1, disconnects // 3)))
    in_backlog = rng.sample(range(1, backlog + 1), min(backlog, disconnects - len(in_live)))
    return set(in_live) | set(in_backlog)


def subscribe_with_disconnects(args, consume, modules, deadline, rng):
    event_pb2, node_pb2, node_pb2_grpc = modules
    total = args.backlog + args.live
    received = Received(consume, event_pb2)
    cuts = plan_cuts(rng, args.backlog, args.live, args.disconnects)
    stats = {
        "disconnects": 0,  # all of them; by where:
        "mid_response": 0,  # after an event with more of its response still unprocessed
        "after_events": 0,  # after a response's last event
        "after_caught_up": 0,  # right after a caught_up answer
        "new_channels": 0,  # disconnects that also closed the channel and opened a new one
        "subscriptions": 0,  # Subscribe calls
    }
    announced = False  # CAUGHT_UP printed
    caught_up_at = None  # the count of events when the node last said caught_up
    after = 0  # where the next subscription starts: the last cursor processed
    channel = consume.connect(args.bundle)
    try:
        while True:
            stats["subscriptions"] += 1
            call = node_pb2_grpc.NodeStub(channel).Subscribe(
                node_pb2.SubscribeRequest(after=after), timeout=deadline.left()
            )
            cut = None  # why this call is cancelled
            try:
                for response in call:
                    require(
                        response.cursor >= received.last_cursor,
                        f"a response's cursor {response.cursor} is behind cursor {received.last_cursor}",
                    )
                    for index, item in enumerate(response.events):
                        received.add(item)
                        after = item.cursor
                        require(
                            item.cursor <= response.cursor,
                            f"event cursor {item.cursor} past its response's cursor {response.cursor}",
                        )
                        require(
                            announced or received.count <= args.backlog,
                            f"more than --backlog {args.backlog} events before caught_up (cursor {item.cursor})",
                        )
                        require(received.count <= total, f"more than {total} events (cursor {item.cursor})")
                        if received.count in cuts:
                            cuts.discard(received.count)
                            cut = "mid_response" if index + 1 < len(response.events) else "after_events"
                            break
                    if cut:
                        break
                    after = response.cursor  # every position up to it has been considered
                    if response.caught_up:
                        caught_up_at = received.count
                    if response.caught_up and received.count == args.backlog and not announced:
                        announced = True
                        print(f"CAUGHT_UP {received.count}", flush=True)
                        log(f"caught up with {received.count} events; waiting for {args.live} live events")
                    # Too few events to cut K times within them: cut here.
                    if response.caught_up and stats["disconnects"] + len(cuts) < args.disconnects:
                        cut = "after_caught_up"
                        break
                    if announced and received.count == total:
                        break
                else:
                    raise Failed(f"the node ended the subscription after {received.count} events")
            except grpc.RpcError as error:
                phase = "live events" if announced else "the backlog"
                said = "" if caught_up_at is None else f"; the node said caught_up at {caught_up_at} events"
                raise Failed(
                    f"Subscribe(after={after}) failed during {phase}, with {received.count} of {total} events{said}:"
                    f" {error.code().name}: {error.details()}"
                ) from error
            finally:
                call.cancel()
            if not cut:
                break
            stats["disconnects"] += 1
            stats[cut] += 1
            # The first disconnect opens a new channel, the second keeps it; then at random.
            new_channel = stats["disconnects"] == 1 or (stats["disconnects"] > 2 and rng.random() < 0.5)
            if new_channel:
                channel.close()
                channel = consume.connect(args.bundle)
                stats["new_channels"] += 1
            log(
                f"disconnect {stats['disconnects']} ({cut}) after {received.count} events, resuming after"
                f" cursor {after}{' on a new channel' if new_channel else ''}"
            )
    finally:
        channel.close()
    require(
        stats["disconnects"] >= args.disconnects,
        f"only {stats['disconnects']} disconnects of --disconnects {args.disconnects}",
    )
    return received, stats


def run(args):
    started = time.monotonic()
    deadline = Deadline(args.deadline)
    rng = random.Random(args.seed)
    sys.path.insert(0, args.bundle)
    import consume  # the bundle's example, as the data team runs it

    modules = consume.stubs(args.bundle)
    channel = consume.connect(args.bundle)
    try:
        check_health(channel, deadline)
        check_reflection(channel, deadline)
    except grpc.RpcError as error:
        raise Failed(f"{error.code().name}: {error.details()}") from error
    finally:
        channel.close()
    log("health and reflection (v1alpha, v1) answer")
    received, stats = subscribe_with_disconnects(args, consume, modules, deadline, rng)
    complete, links = received.check_chains()
    result = {
        "events": received.count,
        "backlog": args.backlog,
        "live": args.live,
        "verified": received.count,  # each event's signature (and body hash, when it had a body)
        "bodies": received.bodies,
        "stubs": received.stubs,
        "replicas": len(received.logs),
        "chains_from_seq_1": complete,
        "links": links,
        "last_cursor": received.last_cursor,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 2),
        **stats,
    }
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except Failed as failure:
        print(f"stock_grpcio: FAILED: {failure} (seed {args.seed})", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
