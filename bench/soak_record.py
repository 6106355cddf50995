"""What bench/soak.py's annotators saw and the report of it: the request names by route template, the
Record of each request's latency and status and of each submission's fate, and the per-endpoint
figures and table written from it."""

import statistics
from collections import Counter, defaultdict

ROUTES = {  # request name -> route template, as the report groups them
    "login": "POST /api/auth/token/",
    "dialogue": "POST /api/dialogues/",
    "turn": "POST /api/dialogues/{id}/turns/",
    "poll": "GET /api/turns/{id}/",
    "retry": "POST /api/turns/{id}/retry/",
    "comparison": "POST /api/turns/{id}/comparison/",
}


class Record:
    """Everything the annotators saw: each request's latency and status, and the fate of each submission."""

    def __init__(self):
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.acknowledged: set[int] = set()  # turns whose comparison got a 201
        self.unanswered: set[int] = set()  # turns whose comparison POST got no answer (connection error)
        self.ready_s: list[float] = []  # POST turn -> the first poll that sees it ready
        self.failed_turns = 0
        self.abandoned_turns = 0  # still not ready after --turn-timeout
        self.user_errors: Counter = Counter()

    def on_request(self, *, name, response_time, response=None, exception=None, **_):
        status = getattr(response, "status_code", 0) or 0
        self.latencies_ms[name].append(response_time)
        self.statuses[name][status] += 1

    def on_user_error(self, *, exception, **_):
        self.user_errors[f"{type(exception).__name__}: {exception}"[:200]] += 1


# --- the report --------------------------------------------------------------------------------
def quantiles(values: list[float], digits: int = 1) -> dict:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50": round(cuts[49], digits), "p95": round(cuts[94], digits), "p99": round(cuts[98], digits)}


def endpoints_report(record: Record) -> list[dict]:
    rows = []
    for route in ROUTES.values():
        values = record.latencies_ms.get(route)
        if not values:
            continue
        rows.append(
            {
                "endpoint": route,
                "requests": len(values),
                **quantiles(values),
                "max": round(max(values), 1),
                "status": {str(code): n for code, n in sorted(record.statuses[route].items())},
            }
        )
    return rows


def table_print(report: dict) -> None:
    print(
        f"soak: {report['annotators']} annotators, {report['minutes']} min (+ {report['grace_seconds']} s to "
        f"finish the cycles in flight), {report['model']} with max_new_tokens {report['max_new_tokens']}, "
        f"{report['worker_processes']} worker(s)"
    )
    print(f"{'endpoint':36} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  status codes")
    for row in report["endpoints"]:
        codes = " ".join(f"{code}:{n}" for code, n in row["status"].items())
        print(
            f"{row['endpoint']:36} {row['requests']:>8} {row['p50']:>8} {row['p95']:>8} {row['p99']:>8} "
            f"{row['max']:>8}  {codes}"
        )
    total = report["totals"]
    print(
        f"requests {total['requests']} ({total['requests_per_second']}/s), 5xx {total['5xx']}, "
        f"no answer {total['no_answer']}, status codes {total['status']}"
    )
    ready = report["turn_ready_s"]
    if ready:
        print(
            f"turn ready (POST turn -> first poll that sees it ready): p50 {ready['p50']} s, p95 {ready['p95']} s; "
            f"failed turns {report['failed_turns']}, abandoned {report['abandoned_turns']}"
        )
    check = report["integrity"]
    print(
        f"integrity {'OK' if check['ok'] else 'FAILED'}: {check['comparisons_in_db']} comparisons in the "
        f"database, {check['acknowledged_201']} acknowledged (201); {check['acknowledged_missing_from_db']} "
        f"acknowledged but missing, {check['in_db_not_acknowledged_unexplained']} stored but never acknowledged "
        f"(unexplained), {check['acknowledged_turns_without_two_samples']} acknowledged turns without exactly two "
        f"samples"
    )
    if report["annotator_errors"]:
        print(f"annotator errors: {report['annotator_errors']}")
