"""Client processes for the overlap-lease race. Kept free of heavy imports so that spawning them is quick."""

import requests


def lease_racer(url: str, token: str, track: str, barrier, results) -> None:
    """Wait at the barrier with the other racers, then ask for the next overlap item once."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    barrier.wait()
    answer = session.post(f"{url}/api/overlap/next/", json={"track": track}, timeout=60)
    results.put((token, answer.status_code, answer.json()["id"] if answer.status_code == 201 else None))
