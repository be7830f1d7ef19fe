"""benchtool's `transfer` subcommand: how long an IXFR of a few changes takes to be served.

BIND 9's named is the primary of an RPZ zone of --names `CNAME .` entries (plus one wildcard, so
every kind the changes use is in the zone before); block-resolver (--binary) and unbound (an
`rpz:` zone with `primary:` and `allow-notify:`) both transfer it and are sent NOTIFY. Each round
sends --changes additions with one nsupdate and polls both servers every ~5 ms for the last
name added until it is NXDOMAIN: the time from nsupdate's start to that answer is the figure.
Also: the time each server took to serve the zone at start (AXFR), and the RSS of both.
Everything is on 127.0.0.1; every wait is bounded; only the processes started here are stopped,
by PID (SIGTERM, then SIGKILL after 5 s).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

ZONE = "rpz.bench"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        return tcp.getsockname()[1]


def tool(name):
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise SystemExit(f"benchtool transfer: {name} is not installed (scripts/install-deps bind9 unbound)")
    return path


class Processes:
    """The processes started here, stopped by PID."""

    def __init__(self):
        self.started = []

    def start(self, arguments, log):
        process = subprocess.Popen(arguments, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def write_zone(path, names):
    with open(path, "w") as zone:
        zone.write(f"$ORIGIN {ZONE}.\n$TTL 60\n@ SOA ns hostmaster 1 3600 5 86400 60\n@ NS ns\nns A 127.0.0.1\n")
        zone.write("*.wild.bench CNAME .\n")
        for index in range(names):
            zone.write(f"n{index}.bench CNAME .\n")


def start_named(processes, work, port, notify_ports):
    also = " ".join(f"127.0.0.1 port {p};" for p in notify_ports)
    config = f"""options {{
    directory "{work}/named"; pid-file "{work}/named/named.pid"; session-keyfile "{work}/named/session.key";
    listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; recursion no; dnssec-validation no;
    notify-delay 0; max-ixfr-ratio unlimited; allow-transfer {{ 127.0.0.0/8; }};
}};
controls {{ }};
zone "{ZONE}" {{ type primary; file "zone.db"; allow-update {{ 127.0.0.0/8; }}; notify explicit; also-notify {{ {also} }}; }};
"""
    with open(f"{work}/named/named.conf", "w") as out:
        out.write(config)
    return processes.start([tool("named"), "-g", "-4", "-c", f"{work}/named/named.conf"], f"{work}/named/named.log")


def start_unbound(processes, work, port, primary):
    config = f"""server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{work}"
    pidfile: "{work}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    module-config: "respip iterator"
    access-control: 127.0.0.0/8 allow
rpz:
    name: {ZONE}
    primary: 127.0.0.1@{primary}
    allow-notify: 127.0.0.1
    zonefile: "{work}/unbound-rpz.zone"
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{primary}
"""
    with open(f"{work}/unbound.conf", "w") as out:
        out.write(config)
    return processes.start([tool("unbound"), "-d", "-c", f"{work}/unbound.conf"], f"{work}/unbound.log")


def start_resolver(processes, binary, work, port, primary, metrics):
    config = f"""listen: ["127.0.0.1:{port}"]
upstreams: ["127.0.0.1:{primary}"]
timeout_ms: 500
metrics: {{ listen: "127.0.0.1:{metrics}" }}
lists:
  - {{ name: bench, format: rpz, path: {work}/bench.rpz, category: "Bench",
      transfer: {{ primaries: ["127.0.0.1:{primary}"], zone: {ZONE} }} }}
"""
    with open(f"{work}/config.yml", "w") as out:
        out.write(config)
    return processes.start([binary, "run", "--config", f"{work}/config.yml"], f"{work}/resolver.log")


def poll(servers, name, timeout, query, since):
    """Seconds from `since` until each server in `servers` ({label: port}) answers `name` NXDOMAIN."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    found, pending = {}, {}
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while len(found) < len(servers) and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            for label, port in servers.items():
                if label in found:
                    continue
                query_id = random.randrange(65536)
                pending[query_id] = label
                try:
                    sock.sendto(query.build_query(query_id, name), ("127.0.0.1", port))
                except OSError:
                    pass
            next_send = now + 0.005
        time.sleep(0.001)
        for packet in query.drain(sock):
            try:
                query_id, rcode, question, _ = query.parse_response(packet)
            except (ValueError, IndexError):
                continue
            label = pending.pop(query_id, None)
            if label and question == name and rcode == "NXDOMAIN" and label not in found:
                found[label] = time.time() - since
    sock.close()
    return found


def nsupdate(work, port, commands):
    script = f"server 127.0.0.1 {port}\nzone {ZONE}\n" + "\n".join(commands) + "\nsend\n"
    path = f"{work}/update.txt"
    with open(path, "w") as out:
        out.write(script)
    run = subprocess.run([tool("nsupdate"), "-v", path], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise SystemExit(f"benchtool transfer: nsupdate failed: {run.stdout}{run.stderr}")


def rss_mib(process, query):
    memory = query.read_memory(process.pid)
    return None if memory is None else (round(memory[0] / 1024, 1), round(memory[1] / 1024, 1))


def run(arguments, query):
    work = arguments.work
    os.makedirs(f"{work}/named", exist_ok=True)
    write_zone(f"{work}/named/zone.db", arguments.names)
    ports = {"primary": free_port(), "block-resolver": free_port(), "unbound": free_port(), "metrics": free_port()}
    servers = {"block-resolver": ports["block-resolver"]}
    if not arguments.no_unbound:
        servers["unbound"] = ports["unbound"]
    processes = Processes()
    report = {"names": arguments.names, "changes": arguments.changes, "rounds": []}
    try:
        named = start_named(processes, work, ports["primary"], servers.values())
        deadline = time.monotonic() + arguments.timeout
        while "running" not in open(f"{work}/named/named.log").read():
            if named.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("benchtool transfer: named did not start; see " + f"{work}/named/named.log")
            time.sleep(0.1)
        since = time.time()
        resolver = start_resolver(processes, arguments.binary, work, servers["block-resolver"], ports["primary"],
                                  ports["metrics"])
        unbound = None if arguments.no_unbound else start_unbound(processes, work, ports["unbound"], ports["primary"])
        loaded = poll(servers, f"n{arguments.names - 1}.bench", arguments.timeout, query, since)
        report["axfr_seconds"] = loaded
        if len(loaded) < len(servers):
            raise SystemExit(f"benchtool transfer: not every server served the zone: {loaded}; logs in {work}")
        time.sleep(2)  # let the first transfer's memory settle before the baseline
        report["rss_before"] = {"block-resolver": rss_mib(resolver, query)}
        if unbound:
            report["rss_before"]["unbound"] = rss_mib(unbound, query)
        for round_index in range(arguments.rounds):
            names = [f"r{round_index}-{i}.new.bench" for i in range(arguments.changes)]
            started = time.time()
            nsupdate(work, ports["primary"], [f"update add {n}.{ZONE}. 60 CNAME ." for n in names])
            updated = time.time() - started
            served = poll(servers, names[-1], arguments.timeout, query, started)
            report["rounds"].append({"nsupdate_seconds": updated, "served_seconds": served})
            time.sleep(1)
        report["rss_after"] = {"block-resolver": rss_mib(resolver, query)}
        if unbound:
            report["rss_after"]["unbound"] = rss_mib(unbound, query)
        log = open(f"{work}/resolver.log").read()
        report["resolver_transfers"] = [line.split(" block-resolver: ", 1)[-1] for line in log.splitlines()
                                        if "zone transferred" in line]
    finally:
        processes.stop_all()
    return report


def print_report(report):
    print(f"zone: {report['names']} names (`CNAME .`), {report['changes']} additions per nsupdate\n")
    print("| | block-resolver | unbound |\n|---|---|---|")
    axfr = report["axfr_seconds"]
    print(f"| zone served at start (AXFR), s | {axfr.get('block-resolver', 0):.2f} | "
          f"{axfr['unbound']:.2f} |" if "unbound" in axfr else f"| zone served at start, s | "
          f"{axfr.get('block-resolver', 0):.2f} | - |")
    for index, result in enumerate(report["rounds"]):
        served = result["served_seconds"]
        cells = [f"{served[label] * 1000:.0f}" if label in served else "not served"
                 for label in ("block-resolver", "unbound")]
        print(f"| round {index + 1}: nsupdate start to change served, ms (nsupdate "
              f"{result['nsupdate_seconds'] * 1000:.0f} ms) | {cells[0]} | {cells[1]} |")
    for key in ("rss_before", "rss_after"):
        values = report[key]
        cells = [f"{values[label][0]} (peak {values[label][1]})" if values.get(label) else "-"
                 for label in ("block-resolver", "unbound")]
        print(f"| RSS MiB {key[4:]} the rounds | {cells[0]} | {cells[1]} |")
    print("\nblock-resolver's transfer log lines:\n")
    for line in report["resolver_transfers"]:
        print(f"    {line}")


def add_command(commands, query):
    sub = commands.add_parser("transfer", help="IXFR of a few changes: time to be served, vs unbound")
    sub.add_argument("--binary", required=True)
    sub.add_argument("--work", required=True, help="an empty folder for configs, zones and logs")
    sub.add_argument("--names", type=int, default=1_000_000)
    sub.add_argument("--changes", type=int, default=100)
    sub.add_argument("--rounds", type=int, default=3)
    sub.add_argument("--timeout", type=float, default=300, help="bound of each wait, s")
    sub.add_argument("--no-unbound", action="store_true")
    sub.set_defaults(run=lambda arguments: print_report(run(arguments, query)))
