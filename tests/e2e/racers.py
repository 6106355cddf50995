"""Client processes for race tests. Kept free of heavy imports so that spawning them is quick."""

import requests


def comparison_racer(url: str, token: str, turns, barrier, results) -> None:
    """For each turn id from `turns` (None ends), wait at the barrier with the other racers, then submit."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    while (turn_id := turns.get()) is not None:
        barrier.wait()
        answer = session.post(
            f"{url}/api/turns/{turn_id}/comparison/",
            timeout=30,
            json={"chosen": "a", "strength": "better", "time_spent_ms": 100},
        )
        results.put(answer.status_code)
