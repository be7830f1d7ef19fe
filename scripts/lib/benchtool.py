#!/usr/bin/env python3
"""Measuring helpers for scripts/bench, scripts/bench-lists, scripts/bench-reload and scripts/soak
(standard library only).

Subcommands:
  unbound-zones LIST OUT     valid, lower-cased, de-duplicated names of LIST as unbound
                             `local-zone: "NAME." always_nxdomain` lines; prints the name count
  names LIST COUNT           COUNT valid distinct names spread evenly over LIST (for query files)
  last-name LIST             the last valid name of LIST
  mem PID                    "VmRSS VmHWM" of PID in KiB
  reset-hwm PID              reset VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs)
  wait-answer ...            query a server every ~50 ms until it gives the expected answer;
                             optionally samples the RSS of a PID every ~20 ms meanwhile
  sample-rss ...             sample the RSS of a PID until killed or a duration ends
  probe ...                  paced UDP probe: alternate a blocked and an allowed name, record
                             every send and receive, check every answer
  soak-monitor ...            every few seconds: RSS and open descriptors of a PID, and one
                             checked query each for a blocked and an allowed name; the RSS
                             slope (least squares) after a warm-up
  dnsperf-stats FILE         dnsperf's summary as JSON; with -v output in FILE also the
                             latency percentiles of the answered queries
  mix-queries ...            a dnsperf query file mixing cached, blocked and fresh names
  prom-sum URL METRIC...     each METRIC summed over its label sets, from a Prometheus text
                             endpoint (a missing metric counts 0); prints them on one line
  transfer ...               an RPZ zone on BIND's named, transferred by block-resolver and
                             unbound: time from an nsupdate of N changes to each serving them,
                             and the RSS before and after (scripts/lib/bench_transfer.py)
All waits are bounded. Queries go only to the address given (loopback in the scripts).
"""

import argparse
import csv
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import time

VALID_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def fail(message):
    print(f"benchtool: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- lists


def normalise(line):
    """A list line as a canonical name, or None when it is not a plain domain name."""
    name = line.strip().lower()
    if not name or name.startswith("#"):
        return None
    if name.startswith("*."):
        name = name[2:]
    if name.endswith("."):
        name = name[:-1]
    return name if VALID_NAME.match(name) else None


def command_unbound_zones(arguments):
    seen = set()
    temporary = arguments.out + ".tmp"
    with open(arguments.list, encoding="utf-8", errors="replace") as source, \
            open(temporary, "w", encoding="ascii") as out:
        write = out.write
        for line in source:
            name = normalise(line)
            if name is None or name in seen:
                continue
            seen.add(name)
            write(f'local-zone: "{name}." always_nxdomain\n')
    os.replace(temporary, arguments.out)
    print(len(seen))


def command_names(arguments):
    """Streams LIST twice (count, then pick) so a 10M-line list is never held in memory."""
    with open(arguments.list, "rb") as source:
        total = sum(1 for _ in source)
    if total == 0:
        fail(f"{arguments.list} is empty")
    step = max(1, total // max(1, arguments.count))
    seen = set()
    bucket = -1
    with open(arguments.list, encoding="utf-8", errors="replace") as source:
        for number, line in enumerate(source):
            # The first valid, unseen name at or after each evenly spaced position.
            if number // step == bucket:
                continue
            name = normalise(line)
            if name is None or name in seen:
                continue
            seen.add(name)
            print(name)
            bucket = number // step
            if len(seen) >= arguments.count:
                break


def command_last_name(arguments):
    last = None
    with open(arguments.list, encoding="utf-8", errors="replace") as source:
        for line in source:
            name = normalise(line)
            if name is not None:
                last = name
    if last is None:
        fail(f"no valid name in {arguments.list}")
    print(last)


# ---------------------------------------------------------------- memory


def read_memory(pid):
    """(VmRSS, VmHWM) in KiB, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            text = status.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def read_rss(pid):
    """VmRSS in KiB from /proc/PID/statm (cheaper than status), or None when gone."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_KIB
    except (FileNotFoundError, ProcessLookupError):
        return None


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def command_mem(arguments):
    memory = read_memory(arguments.pid)
    if memory is None:
        fail(f"process {arguments.pid} is gone")
    print(f"{memory[0]} {memory[1]}")


def command_reset_hwm(arguments):
    try:
        with open(f"/proc/{arguments.pid}/clear_refs", "w") as refs:
            refs.write("5")
    except OSError as error:
        # Not fatal: the caller then reports VmHWM over the whole life of the process.
        print(f"benchtool: cannot reset VmHWM of {arguments.pid}: {error}", file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------- DNS wire


def build_query(query_id, name, qtype=1):
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # RD set
    labels = b"".join(bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", qtype, 1)


def skip_name(packet, offset):
    while True:
        if offset >= len(packet):
            raise ValueError("name runs past the end")
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def read_name(packet, offset):
    labels, jumps = [], 0
    while True:
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            jumps += 1
            if jumps > 20:
                raise ValueError("compression loop")
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        if length == 0:
            return ".".join(labels).lower()
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def parse_response(packet):
    """(id, rcode name, question name, [A addresses]) of a response; raises on garbage."""
    if len(packet) < 12:
        raise ValueError("short packet")
    query_id, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", packet[:12])
    if not flags & 0x8000:
        raise ValueError("not a response")
    offset = 12
    question = None
    for index in range(qdcount):
        if index == 0:
            question = read_name(packet, offset)
        offset = skip_name(packet, offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = skip_name(packet, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", packet[offset:offset + 10])
        offset += 10
        if rtype == 1 and rdlength == 4:
            addresses.append(socket.inet_ntoa(packet[offset:offset + 4]))
        offset += rdlength
    return query_id, RCODES.get(flags & 0xF, str(flags & 0xF)), question, addresses


def answer_text(rcode, addresses):
    return rcode if not addresses else rcode + ":" + ",".join(addresses)


def matches(expect, rcode, addresses):
    """`a:1.2.3.4` wants NOERROR with that address; `rcode:NXDOMAIN` wants that rcode."""
    kind, _, value = expect.partition(":")
    if kind == "a":
        return rcode == "NOERROR" and value in addresses
    if kind == "rcode":
        return rcode == value
    fail(f"bad expectation {expect!r}; use a:ADDRESS or rcode:NAME")
    return False


def udp_socket(server):
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def drain(sock):
    """All datagrams waiting on sock (ICMP errors such as 'port unreachable' are ignored)."""
    packets = []
    while True:
        try:
            packets.append(sock.recv(65535))
        except (BlockingIOError, InterruptedError):
            return packets
        except ConnectionRefusedError:
            continue


# ---------------------------------------------------------------- wait-answer


def command_wait_answer(arguments):
    """Queries every --interval until the answer matches; prints a JSON result.

    Times are measured from --since, or from the moment this process sends SIGHUP (--hup), or
    from the Unix time in --pid-file ("PID SINCE", written by the caller right after it
    started the server; polling begins before that, so Python's own start-up is not counted).
    With --also NAME, NAME is queried as well and the longest stretch without a correct
    answer for it is reported: whether the server kept answering while it loaded or reloaded.
    """
    deadline = time.monotonic() + arguments.timeout
    pid, since = arguments.pid, arguments.since
    sock = udp_socket(arguments.server)
    sock.connect((arguments.server, arguments.port))
    name = arguments.name.lower().rstrip(".")
    also = arguments.also.lower().rstrip(".") if arguments.also else None
    if arguments.hup:
        if not pid:
            fail("--hup needs --pid")
        since = time.time()
        os.kill(pid, signal.SIGHUP)
    if since is None and not arguments.pid_file:
        since = time.time()
    pending = {}          # id -> (name, monotonic send time)
    next_id = random.randrange(65536)
    next_query = 0.0
    next_sample = 0.0
    peak_rss = 0
    samples = 0
    last_answer = None
    queries = 0
    found_at = None
    also_answers = []     # Unix receive times of correct answers for --also
    also_wrong = 0

    def send(query_name):
        nonlocal next_id, queries
        next_id = (next_id + 1) & 0xFFFF
        pending[next_id] = (query_name, time.monotonic())
        try:
            sock.send(build_query(next_id, query_name))
        except ConnectionRefusedError:
            pass  # nothing listening yet; the next poll tries again
        queries += 1

    while found_at is None:
        now = time.monotonic()
        if now >= deadline:
            break
        if pid is None and arguments.pid_file:
            try:
                with open(arguments.pid_file) as handle:
                    fields = handle.read().split()
                if len(fields) == 2:
                    pid, since = int(fields[0]), float(fields[1])
            except FileNotFoundError:
                pass
        if pid and now >= next_sample:
            rss = read_rss(pid)
            if rss is None:
                print(json.dumps({"ok": False, "error": f"process {pid} exited",
                                  "last_answer": last_answer}))
                return 1
            peak_rss = max(peak_rss, rss)
            samples += 1
            next_sample = now + arguments.sample_interval
        if now >= next_query:
            send(name)
            if also:
                send(also)
            next_query = now + arguments.interval
            for key in [k for k, (_, sent) in pending.items() if now - sent > arguments.query_timeout]:
                del pending[key]
        wake = min(next_query, next_sample if pid else next_query, deadline)
        readable, _, _ = select.select([sock], [], [], max(0.0, wake - time.monotonic()))
        if not readable:
            continue
        received = time.time()
        for packet in drain(sock):
            try:
                query_id, rcode, question, addresses = parse_response(packet)
            except (ValueError, struct.error, IndexError):
                continue
            entry = pending.pop(query_id, None)
            if entry is None or entry[0] != question:
                continue
            if question == also and question != name:
                if matches(arguments.also_expect, rcode, addresses):
                    also_answers.append(received)
                else:
                    also_wrong += 1
                continue
            last_answer = answer_text(rcode, addresses)
            if matches(arguments.expect, rcode, addresses):
                found_at = received
    if pid:
        rss = read_rss(pid)
        if rss is not None:
            peak_rss = max(peak_rss, rss)
    result = {"ok": found_at is not None, "queries": queries, "last_answer": last_answer}
    if found_at is not None and since is not None:
        result["seconds"] = round(found_at - since, 4)
    else:
        result["error"] = f"no {arguments.expect} answer for {name} within {arguments.timeout} s"
    if pid:
        result["pid"] = pid
        result["peak_rss_kib"] = peak_rss
        result["rss_samples"] = samples
    if also and since is not None:
        end = found_at if found_at is not None else time.time()
        marks = [since] + [t for t in also_answers if since <= t <= end] + [end]
        result["also_answers"] = len(also_answers)
        result["also_wrong"] = also_wrong
        result["also_max_gap_ms"] = round(max(b - a for a, b in zip(marks, marks[1:])) * 1000, 1)
    print(json.dumps(result))
    return 0 if found_at is not None else 1


# ---------------------------------------------------------------- sample-rss


def command_sample_rss(arguments):
    """Samples RSS until SIGTERM/SIGINT, the duration ends or the process exits; writes JSON."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    start = time.monotonic()
    peak, peak_at, samples, last = 0, 0.0, 0, None
    series = []
    while not stop and time.monotonic() - start < arguments.duration:
        rss = read_rss(arguments.pid)
        if rss is None:
            break
        samples += 1
        last = rss
        elapsed = time.monotonic() - start
        if rss > peak:
            peak, peak_at = rss, elapsed
        if arguments.series and (not series or series[-1][1] != rss):
            series.append((round(elapsed, 3), rss))
        time.sleep(arguments.interval)
    result = {"peak_rss_kib": peak, "peak_at_s": round(peak_at, 3), "samples": samples,
              "last_rss_kib": last}
    with open(arguments.out, "w") as out:
        json.dump(result, out)
    if arguments.series:
        with open(arguments.series, "w") as out:
            out.write("seconds,rss_kib\n")
            out.writelines(f"{t},{r}\n" for t, r in series)
    return 0


# ---------------------------------------------------------------- probe


def command_probe(arguments):
    """Sends one query every --interval-ms, alternating the blocked and the allowed name.

    Every query gets a unique ID (a 16-bit counter; at most 200/s with a 2 s timeout, so IDs
    never collide while outstanding). Writes one CSV row per query and a JSON summary.
    """
    sock = udp_socket(arguments.server)
    sock.connect((arguments.server, arguments.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    interval = arguments.interval_ms / 1000.0
    timeout = arguments.timeout
    kinds = [("blocked", arguments.blocked.lower().rstrip("."), arguments.expect_blocked),
             ("allowed", arguments.allowed.lower().rstrip("."), arguments.expect_allowed)]
    queries = []          # [seq, kind, name, expect, t_send (unix), t_recv, rcode, answer, ok]
    outstanding = {}      # id -> index into queries
    start_mono = time.monotonic()
    start_unix = time.time()
    end_send = start_mono + arguments.duration
    hard_end = end_send + timeout + 0.5
    next_send = start_mono
    sequence = 0
    send_times = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    def unix(mono):
        return start_unix + (mono - start_mono)

    while not stop:
        now = time.monotonic()
        if now >= hard_end or (now >= end_send and not outstanding):
            break
        if now >= next_send and now < end_send:
            kind, name, expect = kinds[sequence % 2]
            query_id = sequence & 0xFFFF
            stale = outstanding.pop(query_id, None)  # a 2 s old query the ID wrapped onto
            if stale is not None:
                queries[stale][6] = "TIMEOUT"
            queries.append([sequence, kind, name, expect, unix(now), None, None, None, False])
            outstanding[query_id] = len(queries) - 1
            try:
                sock.send(build_query(query_id, name))
            except (ConnectionRefusedError, BlockingIOError):
                pass
            send_times.append(now)
            sequence += 1
            # Keep the schedule; if we fell behind by more than an interval, do not burst.
            next_send += interval
            if next_send < now - interval:
                next_send = now + interval
        wake = min(next_send if now < end_send else hard_end, hard_end)
        readable, _, _ = select.select([sock], [], [], max(0.0, min(wake - time.monotonic(), 0.05)))
        if readable:
            received_mono = time.monotonic()
            for packet in drain(sock):
                try:
                    query_id, rcode, question, addresses = parse_response(packet)
                except (ValueError, struct.error, IndexError):
                    continue
                index = outstanding.get(query_id)
                if index is None or queries[index][2] != question:
                    continue
                row = queries[index]
                if received_mono - (row[4] - start_unix + start_mono) > timeout:
                    continue  # too late: stays lost
                del outstanding[query_id]
                row[5] = unix(received_mono)
                row[6] = rcode
                row[7] = answer_text(rcode, addresses)
                row[8] = matches(row[3], rcode, addresses)
        # Expire queries older than the timeout.
        now = time.monotonic()
        for query_id in [k for k, i in outstanding.items()
                         if now - (queries[i][4] - start_unix + start_mono) > timeout]:
            queries[outstanding.pop(query_id)][6] = "TIMEOUT"

    answered = [row for row in queries if row[5] is not None]
    lost = [row for row in queries if row[5] is None]
    wrong = [row for row in answered if not row[8]]
    receive_times = sorted(row[5] for row in answered)
    gaps = [b - a for a, b in zip(receive_times, receive_times[1:])]
    send_gaps = [b - a for a, b in zip(send_times, send_times[1:])]
    latencies = sorted(row[5] - row[4] for row in answered)
    max_gap_at = None
    if gaps:
        index = max(range(len(gaps)), key=gaps.__getitem__)
        max_gap_at = round(receive_times[index] - start_unix, 3)

    def percentile(values, fraction):
        return values[min(len(values) - 1, int(fraction * len(values)))] if values else None

    summary = {
        "start_unix": start_unix,
        "sent": len(queries),
        "answered": len(answered),
        "lost": len(lost),
        "wrong": len(wrong),
        "max_answer_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
        "max_answer_gap_at_s": max_gap_at,
        "max_send_gap_ms": round(max(send_gaps) * 1000, 1) if send_gaps else None,
        "latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else None,
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "latency_max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "wrong_examples": [{"seq": r[0], "name": r[2], "expected": r[3], "got": r[7]} for r in wrong[:5]],
        "lost_at_s": [round(r[4] - start_unix, 3) for r in lost[:20]],
    }
    if arguments.csv:
        with open(arguments.csv, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["seq", "kind", "name", "t_send", "t_recv", "latency_ms", "answer", "ok"])
            for row in queries:
                latency = round((row[5] - row[4]) * 1000, 3) if row[5] is not None else ""
                writer.writerow([row[0], row[1], row[2], f"{row[4]:.6f}",
                                 f"{row[5]:.6f}" if row[5] is not None else "", latency,
                                 row[7] or "TIMEOUT", int(bool(row[8]))])
    with open(arguments.out, "w") as out:
        json.dump(summary, out, indent=1)
    return 0


# ---------------------------------------------------------------- soak-monitor


def count_fds(pid):
    """Open file descriptors of PID (entries of /proc/PID/fd), or None when it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def ask(server, port, name, timeout, tries):
    """One checked query as dig would ask it: up to `tries` sends, `timeout` s each. Returns
    (rcode, addresses), or None when no matching answer came."""
    sock = udp_socket(server)
    try:
        sock.connect((server, port))
        for _ in range(tries):
            query_id = random.randrange(65536)
            try:
                sock.send(build_query(query_id, name))
            except (ConnectionRefusedError, BlockingIOError):
                pass
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                readable, _, _ = select.select([sock], [], [], left)
                if not readable:
                    continue
                for packet in drain(sock):
                    try:
                        answer_id, rcode, question, addresses = parse_response(packet)
                    except (ValueError, struct.error, IndexError):
                        continue
                    if answer_id == query_id and question == name:
                        return rcode, addresses
    finally:
        sock.close()
    return None


def least_squares_slope(points):
    """Slope of the least-squares line through [(x, y)], or None with fewer than 2 points."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def command_soak_monitor(arguments):
    """Samples at --offset, --offset + --interval, ... s until --duration (or SIGTERM, or the
    process exits): VmRSS and the open descriptors of --pid, then one query for the blocked
    and one for the allowed name, each checked (3 tries of 2 s, as dig; no answer counts as
    lost). Slots missed while a probe waited are skipped, not caught up. Writes a CSV row per
    sample and a JSON summary: RSS and descriptors at the first sample and over the samples at
    or after --warmup s, and the least-squares RSS slope over those in KiB/min."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    probes = [("blocked", arguments.blocked.lower().rstrip("."), arguments.expect_blocked),
              ("allowed", arguments.allowed.lower().rstrip("."), arguments.expect_allowed)]
    start = time.monotonic()
    rows = []
    wrong, lost, examples, error = 0, 0, [], None
    slot = 0
    out = open(arguments.csv, "w", newline="")
    writer = csv.writer(out)
    writer.writerow(["t_s", "rss_kib", "fds", "blocked", "blocked_ok", "allowed", "allowed_ok"])
    while not stop:
        due = arguments.offset + slot * arguments.interval
        if due > arguments.duration:
            break
        while not stop and time.monotonic() - start < due:
            time.sleep(min(0.5, max(0.0, due - (time.monotonic() - start))))
        if stop:
            break
        elapsed = time.monotonic() - start
        memory = read_memory(arguments.pid)
        fds = count_fds(arguments.pid)
        if memory is None or fds is None:
            error = f"process {arguments.pid} exited at {elapsed:.1f} s"
            break
        row = [round(elapsed, 3), memory[0], fds]
        for kind, name, expect in probes:
            answer = ask(arguments.server, arguments.port, name, 2.0, 3)
            if answer is None:
                lost += 1
                row += ["LOST", 0]
                if len(examples) < 5:
                    examples.append({"t_s": row[0], "name": name, "expected": expect, "got": "no answer"})
                continue
            ok = matches(expect, *answer)
            row += [answer_text(*answer), int(ok)]
            if not ok:
                wrong += 1
                if len(examples) < 5:
                    examples.append({"t_s": row[0], "name": name, "expected": expect,
                                     "got": answer_text(*answer)})
        rows.append(row)
        writer.writerow(row)
        out.flush()
        # The next slot after now: a slow probe skips slots rather than bunching them.
        slot = max(slot + 1, int((time.monotonic() - start - arguments.offset) // arguments.interval) + 1)
    out.close()

    measured = [row for row in rows if row[0] >= arguments.warmup]
    slope = least_squares_slope([(row[0] / 60.0, row[1]) for row in measured])
    summary = {
        "samples": len(rows),
        "measured_samples": len(measured),
        "warmup_s": arguments.warmup,
        "probes": 2 * len(rows),
        "probe_wrong": wrong,
        "probe_lost": lost,
        "examples": examples,
        "error": error,
        "rss_first_kib": rows[0][1] if rows else None,
        "fds_first": rows[0][2] if rows else None,
        "rss_start_kib": measured[0][1] if measured else None,
        "rss_end_kib": measured[-1][1] if measured else None,
        "rss_max_kib": max(row[1] for row in measured) if measured else None,
        "rss_slope_kib_per_min": round(slope, 1) if slope is not None else None,
        "fds_start": measured[0][2] if measured else None,
        "fds_end": measured[-1][2] if measured else None,
        "fds_max": max(row[2] for row in measured) if measured else None,
        "measured_from_s": measured[0][0] if measured else None,
        "measured_to_s": measured[-1][0] if measured else None,
    }
    with open(arguments.out, "w") as handle:
        json.dump(summary, handle, indent=1)
    return 1 if error else 0


# ---------------------------------------------------------------- dnsperf


DNSPERF_NUMBERS = {
    "sent": r"^\s*Queries sent:\s+(\d+)",
    "completed": r"^\s*Queries completed:\s+(\d+)",
    "lost": r"^\s*Queries lost:\s+(\d+)",
    "run_time_s": r"^\s*Run time \(s\):\s+([\d.]+)",
    "qps": r"^\s*Queries per second:\s+([\d.]+)",
    "avg_latency_s": r"^\s*Average Latency \(s\):\s+([\d.]+)",
    "request_bytes": r"^\s*Average packet size:\s+request (\d+)",
    "response_bytes": r"^\s*Average packet size:.*response (\d+)",
}


def command_dnsperf_stats(arguments):
    """Parses dnsperf's output. Response codes become {"NOERROR": count, ...}. Lines of -v
    ("> RCODE NAME TYPE SECONDS") give p50/p99/max latency of the answered queries; lost
    queries have no latency and are counted in "lost" only."""
    with open(arguments.file, encoding="utf-8", errors="replace") as source:
        text = source.read()
    result = {}
    for key, pattern in DNSPERF_NUMBERS.items():
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            value = match.group(1)
            result[key] = float(value) if "." in value else int(value)
    if "qps" not in result:
        fail(f"{arguments.file} has no dnsperf statistics")
    codes = re.search(r"^\s*Response codes:\s+(.*)$", text, re.MULTILINE)
    result["rcodes"] = {}
    if codes:
        for name, count in re.findall(r"([A-Z]+) (\d+) \(", codes.group(1)):
            result["rcodes"][name] = int(count)
    result["ran_out"] = "ran out of query data" in text.lower() or "Testing complete (end of file)" in text
    latencies = sorted(float(match) for match in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.MULTILINE))
    if latencies:
        def percentile(fraction):
            return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]
        result["latency_samples"] = len(latencies)
        result["p50_ms"] = round(percentile(0.50) * 1000, 3)
        result["p99_ms"] = round(percentile(0.99) * 1000, 3)
        result["p999_ms"] = round(percentile(0.999) * 1000, 3)
        result["max_ms"] = round(latencies[-1] * 1000, 3)
        result["mean_ms"] = round(sum(latencies) / len(latencies) * 1000, 3)
    print(json.dumps(result))


def command_mix_queries(arguments):
    """Writes LINES queries in a repeating --pattern of C (cached), B (blocked) and U (fresh)
    names; the default CBCCUCCBCC is 7 cached, 2 blocked and 1 fresh name in 10.

    Cached and blocked names cycle through their files; fresh names are
    `TAG-N.ZONE`, never repeated, so each is a cache miss as long as TAG is new."""
    def names(path):
        with open(path, encoding="ascii") as source:
            return [line.split()[0] for line in source if line.strip()]
    cached, blocked = names(arguments.cached), names(arguments.blocked)
    if not cached or not blocked:
        fail("mix-queries needs non-empty --cached and --blocked files")
    pattern = arguments.pattern
    if not pattern or set(pattern) - set("CBU"):
        fail(f"--pattern must be made of C, B and U, got {pattern!r}")
    counters = {"C": 0, "B": 0, "U": 0}
    temporary = arguments.out + ".tmp"
    with open(temporary, "w", encoding="ascii") as out:
        lines = []
        for number in range(arguments.lines):
            kind = pattern[number % len(pattern)]
            index = counters[kind]
            counters[kind] += 1
            if kind == "C":
                name = cached[index % len(cached)]
            elif kind == "B":
                name = blocked[index % len(blocked)]
            else:
                name = f"{arguments.tag}-{index}.{arguments.zone}"
            lines.append(f"{name} A\n")
            if len(lines) >= 100000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    os.replace(temporary, arguments.out)
    print(json.dumps(counters))


def command_prom_sum(arguments):
    """GET URL (loopback only in the scripts, 5 s timeout) and sum each metric over its labels."""
    import urllib.request
    try:
        with urllib.request.urlopen(arguments.url, timeout=5) as response:
            text = response.read().decode("utf-8", "replace")
    except OSError as error:
        fail(f"cannot read {arguments.url}: {error}")
    totals = {name: 0.0 for name in arguments.metrics}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            try:
                totals[name] += float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                pass
    print(" ".join(f"{totals[name]:.0f}" for name in arguments.metrics))


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(prog="benchtool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    import bench_transfer  # beside this file; the transfer scenario lives there
    bench_transfer.add_command(commands, sys.modules[__name__])

    sub = commands.add_parser("unbound-zones")
    sub.add_argument("list")
    sub.add_argument("out")
    sub.set_defaults(run=command_unbound_zones)

    sub = commands.add_parser("names")
    sub.add_argument("list")
    sub.add_argument("count", type=int)
    sub.set_defaults(run=command_names)

    sub = commands.add_parser("last-name")
    sub.add_argument("list")
    sub.set_defaults(run=command_last_name)

    sub = commands.add_parser("mem")
    sub.add_argument("pid", type=int)
    sub.set_defaults(run=command_mem)

    sub = commands.add_parser("reset-hwm")
    sub.add_argument("pid", type=int)
    sub.set_defaults(run=command_reset_hwm)

    sub = commands.add_parser("wait-answer")
    sub.add_argument("--server", default="127.0.0.1")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--name", required=True)
    sub.add_argument("--expect", required=True, help="a:ADDRESS or rcode:RCODE")
    sub.add_argument("--since", type=float, help="Unix time to measure from (default: now)")
    sub.add_argument("--timeout", type=float, required=True, help="give up after this many s")
    sub.add_argument("--interval", type=float, default=0.05, help="seconds between queries")
    sub.add_argument("--query-timeout", type=float, default=2.0)
    sub.add_argument("--pid", type=int, help="sample this process's RSS meanwhile")
    sub.add_argument("--pid-file", help="read 'PID SINCE' from this file once it appears")
    sub.add_argument("--hup", action="store_true", help="send SIGHUP to --pid, then time from it")
    sub.add_argument("--also", help="a name that must keep getting --also-expect meanwhile")
    sub.add_argument("--also-expect", default="a:0.0.0.0")
    sub.add_argument("--sample-interval", type=float, default=0.02)
    sub.set_defaults(run=command_wait_answer)

    sub = commands.add_parser("sample-rss")
    sub.add_argument("--pid", type=int, required=True)
    sub.add_argument("--interval", type=float, default=0.02)
    sub.add_argument("--duration", type=float, required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--series", help="also write the RSS time series (changes only) as CSV")
    sub.set_defaults(run=command_sample_rss)

    sub = commands.add_parser("probe")
    sub.add_argument("--server", default="127.0.0.1")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--blocked", required=True)
    sub.add_argument("--allowed", required=True)
    sub.add_argument("--expect-blocked", default="a:0.0.0.0")
    sub.add_argument("--expect-allowed", required=True)
    sub.add_argument("--interval-ms", type=float, default=5.0)
    sub.add_argument("--timeout", type=float, default=2.0)
    sub.add_argument("--duration", type=float, required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--csv")
    sub.set_defaults(run=command_probe)

    sub = commands.add_parser("soak-monitor")
    sub.add_argument("--server", default="127.0.0.1")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--pid", type=int, required=True)
    sub.add_argument("--blocked", required=True)
    sub.add_argument("--allowed", required=True)
    sub.add_argument("--expect-blocked", default="a:0.0.0.0")
    sub.add_argument("--expect-allowed", required=True)
    sub.add_argument("--duration", type=float, required=True, help="seconds; no sample after it")
    sub.add_argument("--interval", type=float, default=10.0)
    sub.add_argument("--offset", type=float, default=5.0, help="seconds to the first sample")
    sub.add_argument("--warmup", type=float, required=True, help="samples before this are not measured")
    sub.add_argument("--out", required=True)
    sub.add_argument("--csv", required=True)
    sub.set_defaults(run=command_soak_monitor)

    sub = commands.add_parser("dnsperf-stats")
    sub.add_argument("file")
    sub.set_defaults(run=command_dnsperf_stats)

    sub = commands.add_parser("mix-queries")
    sub.add_argument("--cached", required=True, help="query file of cached allowed names")
    sub.add_argument("--blocked", required=True, help="query file of listed names")
    sub.add_argument("--zone", required=True, help="zone the upstream answers every name below")
    sub.add_argument("--tag", required=True, help="first label prefix of the fresh names")
    sub.add_argument("--lines", type=int, required=True)
    sub.add_argument("--pattern", default="CBCCUCCBCC", help="C cached, B blocked, U fresh")
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=command_mix_queries)

    sub = commands.add_parser("prom-sum")
    sub.add_argument("url")
    sub.add_argument("metrics", nargs="+")
    sub.set_defaults(run=command_prom_sum)

    arguments = parser.parse_args()
    return arguments.run(arguments) or 0


if __name__ == "__main__":
    sys.exit(main())
