#!/usr/bin/env python3
"""Results and tables for scripts/bench (standard library only).

Subcommands:
  record [--stats DNSPERF_OUT] RESULTS KEY=VALUE...
        appends one JSON line to RESULTS: dnsperf's statistics (benchtool.py dnsperf-stats)
        merged with the KEY=VALUE fields (numbers stay numbers)
  knee RESULTS SERVER THREADS SCENARIO MAX_LOSS_PERCENT
        the -q of the ramp rows for that case: among the points losing at most
        MAX_LOSS_PERCENT of their queries, the smallest -q within 3% of the best QPS
        (the knee: more outstanding queries only add queueing); prints "Q QPS"
  render RESULTS
        the Markdown tables of bench.md
"""

import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = ["block-resolver", "unbound"]
NOISE_PERCENT = 10
SCENARIO_TITLES = {
    "blocked": "1 blocked",
    "cached": "2 cached allowed",
    "mix": "3 mix 70/20/10",
    "fresh": "4 fresh (all uncached)",
    "dot": "5 cached over DoT",
    "doh": "6 cached over DoH",
}


def fail(message):
    print(f"bench-report: {message}", file=sys.stderr)
    sys.exit(2)


def value_of(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load(path):
    with open(path) as source:
        return [json.loads(line) for line in source if line.strip()]


def command_record(arguments):
    row = {}
    if arguments.stats:
        output = subprocess.run([sys.executable, os.path.join(HERE, "benchtool.py"), "dnsperf-stats",
                                 arguments.stats], check=True, capture_output=True, text=True).stdout
        row.update(json.loads(output))
    for field in arguments.fields:
        key, separator, value = field.partition("=")
        if not separator:
            fail(f"not KEY=VALUE: {field!r}")
        row[key] = value_of(value)
    with open(arguments.results, "a") as out:
        out.write(json.dumps(row) + "\n")
    print(json.dumps(row))


def loss_percent(row):
    return 100.0 * row.get("lost", 0) / row["sent"] if row.get("sent") else 100.0


def knee(rows, max_loss):
    """(q, qps, reason) of the knee of ramp rows."""
    acceptable = [row for row in rows if loss_percent(row) <= max_loss]
    if not acceptable:
        best = max(rows, key=lambda row: row["qps"])
        return best["q"], best["qps"], "no point within the loss limit: highest QPS"
    best = max(row["qps"] for row in acceptable)
    chosen = min((row for row in acceptable if row["qps"] >= 0.97 * best), key=lambda row: row["q"])
    return chosen["q"], chosen["qps"], "smallest -q within 3% of the best loss-free QPS"


def command_knee(arguments):
    rows = [row for row in load(arguments.results) if row.get("kind") == "ramp"
            and row.get("server") == arguments.server and str(row.get("threads")) == arguments.threads
            and row.get("scenario") == arguments.scenario]
    if not rows:
        fail(f"no ramp rows for {arguments.server} threads {arguments.threads} {arguments.scenario}")
    q, qps, _ = knee(rows, arguments.max_loss)
    print(f"{q} {qps:.0f}")


# ---------------------------------------------------------------- render


def fmt_int(value):
    return "-" if value is None else f"{value:,.0f}".replace(",", " ")


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def answers_text(rcodes):
    total = sum(rcodes.values())
    if not total:
        return "-"
    short = {"NOERROR": "NOERR", "NXDOMAIN": "NX", "SERVFAIL": "SERVFAIL", "REFUSED": "REFUSED"}
    parts = sorted(rcodes.items(), key=lambda item: -item[1])
    return " ".join(f"{short.get(name, name)} {100.0 * count / total:.1f}%" for name, count in parts)


def cache_text(case):
    if case.hit_pct is None:
        return "-"
    text = f"{case.hit_pct:.2f}"
    if case.evictions is not None:
        text += f" ({fmt_int(case.evictions)})"
    return text


def merged_rcodes(rows):
    total = {}
    for row in rows:
        for name, count in row.get("rcodes", {}).items():
            total[name] = total.get(name, 0) + count
    return total


class Case:
    """The max-throughput reps, the latency run and the knee of one server x threads x scenario."""

    def __init__(self, rows, server, threads, scenario, max_loss):
        def pick(kind):
            return [row for row in rows if row.get("kind") == kind and row.get("server") == server
                    and row.get("threads") == threads and row.get("scenario") == scenario]
        self.reps = pick("max")
        self.ramp = sorted(pick("ramp"), key=lambda row: row["q"])
        latency = pick("lat")
        self.latency = latency[-1] if latency else None
        self.present = bool(self.reps)
        if not self.present:
            return
        values = [row["qps"] for row in self.reps]
        self.qps = statistics.median(values)
        self.qps_min, self.qps_max = min(values), max(values)
        self.q = self.reps[0].get("q")
        self.sent = sum(row.get("sent", 0) for row in self.reps)
        self.lost = sum(row.get("lost", 0) for row in self.reps)
        self.rcodes = merged_rcodes(self.reps)
        last = self.reps[-1]
        self.rss_mib = last["rss_kib"] / 1024 if last.get("rss_kib") else None
        def median_of(key):
            values = [row[key] for row in self.reps if row.get(key) is not None]
            return statistics.median(values) if values else None
        self.cpu = median_of("cpu_pct")
        self.dnsperf_cpu = median_of("dnsperf_cpu_pct")
        self.other_cpu = median_of("other_user_cpu_pct")
        drops = [row.get("rcvbuf_drops") for row in self.reps]
        self.drops = sum(drops) if all(isinstance(value, int) for value in drops) else None
        completed = sum(row.get("completed", 0) for row in self.reps)
        upstream = [row.get("upstream_queries") for row in self.reps]
        if completed and all(isinstance(value, int) for value in upstream):
            self.upstream_pct = 100.0 * sum(upstream) / completed
        else:
            self.upstream_pct = None
        self.upstream_cpu = median_of("upstream_cpu_pct")
        hits = [row.get("cache_hits") for row in self.reps]
        misses = [row.get("cache_misses") for row in self.reps]
        evictions = [row.get("cache_evictions") for row in self.reps]
        self.hit_pct = None
        if all(isinstance(value, int) for value in hits + misses) and sum(hits) + sum(misses) > 0:
            self.hit_pct = 100.0 * sum(hits) / (sum(hits) + sum(misses))
        self.evictions = sum(evictions) if all(isinstance(value, int) for value in evictions) else None
        self.ran_out = any(row.get("ran_out") and row.get("run_time_s", 0) < 0.98 * row.get("duration", 0)
                           for row in self.reps)
        self.knee = knee(self.ramp, max_loss) if self.ramp else None


def command_render(arguments):
    rows = load(arguments.results)
    max_loss = arguments.max_loss
    threads_seen = sorted({row["threads"] for row in rows if row.get("kind") == "max"})
    scenarios = [name for name in ("blocked", "cached", "mix", "fresh", "dot", "doh")
                 if any(row.get("scenario") == name and row.get("kind") == "max" for row in rows)]
    reps = max((row.get("rep", 0) for row in rows if row.get("kind") == "max"), default=0)

    out = []
    out.append(f"### Results (QPS: median of {reps} runs at the knee; latency: the fixed-rate run)")
    out.append("")
    out.append("| scenario | threads | server | QPS | min-max | -q | lost / sent | rcvbuf drops | answers "
               "| avg ms | p99 ms | RSS MiB | CPU % server / dnsperf / upstream / other | cache hit % (evictions) "
               "| to upstream % | block-resolver / unbound | % of C ceiling |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []

    def latency_cells(case):
        if not case.latency:
            return "-", "-"
        return fmt(case.latency.get("mean_ms"), 3), fmt(case.latency.get("p99_ms"), 3)

    def row_for(title, threads, label, case, ratio="", ceiling_pct=""):
        avg, p99 = latency_cells(case)
        note = " (query file ran out)" if case.ran_out else ""
        out.append(
            f"| {title} | {threads} | {label} | {fmt_int(case.qps)}{note} | {fmt_int(case.qps_min)}-{fmt_int(case.qps_max)} "
            f"| {case.q} | {fmt_int(case.lost)} / {fmt_int(case.sent)} | {fmt_int(case.drops)} "
            f"| {answers_text(case.rcodes)} | {avg} | {p99} | {fmt(case.rss_mib, 1)} "
            f"| {fmt(case.cpu, 0)} / {fmt(case.dnsperf_cpu, 0)} / {fmt(case.upstream_cpu, 0)} / {fmt(case.other_cpu, 0)} "
            f"| {cache_text(case)} | {fmt(case.upstream_pct, 2)} | {ratio} | {ceiling_pct} |")

    for scenario in scenarios:
        for threads in threads_seen:
            cases = {server: Case(rows, server, threads, scenario, max_loss) for server in SERVERS}
            ceiling = Case(rows, "responder", threads, scenario, max_loss)
            if ceiling.present and not ceiling.latency:
                # The responder's latency run is made once, with the first scenario.
                ceiling.latency = next((row for row in rows if row.get("kind") == "lat"
                                        and row.get("server") == "responder"
                                        and row.get("threads") == threads), None)
            br, ub = cases["block-resolver"], cases["unbound"]
            ratio = f"**{br.qps / ub.qps:.2f}**" if br.present and ub.present and ub.qps else "-"
            if ceiling.present:
                row_for(SCENARIO_TITLES[scenario], threads, "C responder (ceiling; blocked names)", ceiling)
            for server in SERVERS:
                case = cases[server]
                if not case.present:
                    continue
                pct = f"{100.0 * case.qps / ceiling.qps:.0f}%" if ceiling.present and ceiling.qps else "-"
                row_for(SCENARIO_TITLES[scenario], threads, server, case,
                        ratio if server == "block-resolver" else "", pct)
            summary.append((scenario, threads, br, ub, ceiling, ratio))

    noisy = [row for row in rows if row.get("kind") in ("max", "lat")
             and (row.get("other_user_cpu_pct") or 0) > NOISE_PERCENT]
    if noisy:
        out.append("")
        out.append(f"**Noise: in {len(noisy)} measured run(s) other work on the machine used more than "
                   f"{NOISE_PERCENT}% of a core** (the \"other\" CPU column): "
                   + ", ".join(f"{row['label']} ({row['other_user_cpu_pct']:.0f}%)" for row in noisy[:12])
                   + (" ..." if len(noisy) > 12 else "") + ". Treat those numbers with care or run again.")

    out.append("")
    out.append("### Ratios")
    out.append("")
    out.append("| scenario | threads | block-resolver QPS | unbound QPS | block-resolver / unbound | C ceiling QPS "
               "| block-resolver % of ceiling | unbound % of ceiling | p99 ms block-resolver / unbound |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario, threads, br, ub, ceiling, ratio in summary:
        def pct(case):
            if not case.present or not ceiling.present or not ceiling.qps:
                return "-"
            return f"{100.0 * case.qps / ceiling.qps:.0f}%"
        p99 = "-"
        if br.present and ub.present and br.latency and ub.latency:
            p99 = f"{fmt(br.latency.get('p99_ms'), 3)} / {fmt(ub.latency.get('p99_ms'), 3)}"
        out.append(f"| {SCENARIO_TITLES[scenario]} | {threads} | {fmt_int(br.qps) if br.present else '-'} "
                   f"| {fmt_int(ub.qps) if ub.present else '-'} | {ratio} "
                   f"| {fmt_int(ceiling.qps) if ceiling.present else '-'} | {pct(br)} | {pct(ub)} | {p99} |")

    latency_rows = [row for row in rows if row.get("kind") == "lat"]
    if latency_rows:
        out.append("")
        out.append("### Latency runs (fixed rate)")
        out.append("")
        out.append("| server | threads | scenario | rate q/s | sent | lost | mean ms | p50 ms | p99 ms | p99.9 ms "
                   "| max ms | answers |")
        out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for row in latency_rows:
            out.append(f"| {row['server']} | {row['threads']} | {row['scenario']} | {fmt_int(row.get('qps'))} "
                       f"| {fmt_int(row.get('sent'))} | {fmt_int(row.get('lost'))} | {fmt(row.get('mean_ms'), 3)} "
                       f"| {fmt(row.get('p50_ms'), 3)} | {fmt(row.get('p99_ms'), 3)} | {fmt(row.get('p999_ms'), 3)} "
                       f"| {fmt(row.get('max_ms'), 3)} | {answers_text(row.get('rcodes', {}))} |")

    ramp_rows = [row for row in rows if row.get("kind") == "ramp"]
    if ramp_rows:
        qs = sorted({row["q"] for row in ramp_rows})
        out.append("")
        out.append("### Knee search (short runs; QPS and loss % per dnsperf -q; the chosen -q in bold)")
        out.append("")
        out.append("| server | threads | scenario | " + " | ".join(f"-q {q}" for q in qs) + " |")
        out.append("|---|---:|---|" + "---:|" * len(qs))
        keys = []
        for row in ramp_rows:
            key = (row["server"], row["threads"], row["scenario"])
            if key not in keys:
                keys.append(key)
        for server, threads, scenario in keys:
            case_rows = [row for row in ramp_rows if (row["server"], row["threads"], row["scenario"])
                         == (server, threads, scenario)]
            chosen, _, _ = knee(case_rows, max_loss)
            cells = []
            for q in qs:
                match = [row for row in case_rows if row["q"] == q]
                if not match:
                    cells.append("-")
                    continue
                text = f"{fmt_int(match[-1]['qps'])} ({loss_percent(match[-1]):.2f}%)"
                cells.append(f"**{text}**" if q == chosen else text)
            out.append(f"| {server} | {threads} | {scenario} | " + " | ".join(cells) + " |")

    upstream_rows = [row for row in rows if row.get("kind") == "upstream"]
    if upstream_rows:
        best = max(upstream_rows, key=lambda row: row["qps"])
        out.append("")
        out.append(f"Upstream alone (fresh names straight at it, best of -q "
                   f"{', '.join(str(row['q']) for row in upstream_rows)}): **{fmt_int(best['qps'])} q/s** "
                   f"at -q {best['q']}, {loss_percent(best):.2f}% lost; CPU % upstream / dnsperf / other: "
                   f"{fmt(best.get('cpu_pct'), 0)} / {fmt(best.get('dnsperf_cpu_pct'), 0)} / "
                   f"{fmt(best.get('other_user_cpu_pct'), 0)}.")
    print("\n".join(out))


def main():
    import argparse
    parser = argparse.ArgumentParser(prog="bench-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("record")
    sub.add_argument("results")
    sub.add_argument("--stats")
    sub.add_argument("fields", nargs="*")
    sub.set_defaults(run=command_record)
    sub = commands.add_parser("knee")
    sub.add_argument("results")
    sub.add_argument("server")
    sub.add_argument("threads")
    sub.add_argument("scenario")
    sub.add_argument("max_loss", type=float)
    sub.set_defaults(run=command_knee)
    sub = commands.add_parser("render")
    sub.add_argument("results")
    sub.add_argument("--max-loss", type=float, default=0.1)
    sub.set_defaults(run=command_render)
    arguments = parser.parse_args()
    return arguments.run(arguments) or 0


if __name__ == "__main__":
    sys.exit(main())
