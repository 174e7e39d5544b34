#!/usr/bin/env python3
"""Checks dekms's HKDF-SHA256 against an independent implementation.

The reference is RFC 5869 written out with Python's standard hmac and
hashlib modules. A few hundred random cases of varied lengths go to the
helper binary named on the command line; every output must match.
"""

import hashlib
import hmac
import random
import subprocess
import sys

CASES = 400
MAX_OUTPUT = 255 * 32


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    block = b""
    output = b""
    counter = 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


def field(data: bytes) -> str:
    return data.hex() if data else "-"


def main() -> int:
    helper = sys.argv[1]
    rng = random.Random()  # Seeded from the OS, so every run tries new cases.
    seed = rng.randrange(2**32)
    rng.seed(seed)
    cases = []
    for _ in range(CASES):
        ikm = rng.randbytes(rng.choice([1, 15, 16, 17, 32, 63, 64, 65, 100]))
        salt = rng.randbytes(rng.choice([0, 1, 13, 32, 64, 65, 200]))
        info = rng.randbytes(rng.choice([0, 1, 10, 40, 54, 55, 64, 200, 512]))
        length = rng.choice([1, 16, 31, 32, 33, 42, 64, 82, 1000, MAX_OUTPUT])
        cases.append((ikm, salt, info, length))

    stdin = "".join(f"{field(i)} {field(s)} {field(n)} {l}\n" for i, s, n, l in cases)
    result = subprocess.run([helper], input=stdin, capture_output=True, text=True,
                            check=False, timeout=60)
    if result.returncode != 0:
        print(f"helper failed with exit code {result.returncode}: {result.stderr}")
        return 1

    lines = result.stdout.splitlines()
    if len(lines) != len(cases):
        print(f"expected {len(cases)} output lines, got {len(lines)}")
        return 1

    failures = 0
    cluster_checked = 0
    for (ikm, salt, info, length), line in zip(cases, lines):
        hkdf_hex, cluster_hex = line.split(" ")
        expected = hkdf_sha256(ikm, salt, info, length).hex()
        if hkdf_hex != expected:
            failures += 1
            print(f"HKDF mismatch: ikm {len(ikm)} B, salt {len(salt)} B, "
                  f"info {len(info)} B, length {length}")
        valid_for_cluster = len(ikm) >= 16 and salt and info
        if valid_for_cluster:
            cluster_checked += 1
            if cluster_hex != expected:
                failures += 1
                print(f"ClusterKms mismatch: ikm {len(ikm)} B, salt {len(salt)} B, "
                      f"info {len(info)} B, length {length}")
        elif cluster_hex != "-":
            failures += 1
            print("ClusterKms accepted an input it must reject")

    print(f"seed {seed}: {len(cases)} HKDF cases, {cluster_checked} ClusterKms "
          f"cases, {failures} mismatches")
    return 1 if failures or cluster_checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
