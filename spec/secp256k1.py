"""secp256k1 as the EVM sees it: the `ecrecover` precompile, and the two uses the
contract makes of it to check a secret it is shown (paper 3.3, disputes).

The EVM has no scalar multiplication on secp256k1, but `ecrecover(h, v, r, s)`
computes r^-1 * (s*R - h*G), with R the curve point of x-coordinate r and the
y-parity v - 27, and returns the address of the result (the last 20 bytes of the
keccak256 of its 64-byte encoding). With h = 0 and s = d * r mod n that is the
address of d * R. So a contract shown a secret scalar d can
- check that d belongs to a public key it knows by address: R = G gives address(d*G);
- compute address(d * E) for any point E it is given (the Diffie-Hellman point of
  d and E), and derive from it the pad that sealed a key to d's public key.
Both are `compute_recovered_address`. An ephemeral key whose x-coordinate is not
on the curve, or not below the group order, yields the zero address, exactly as
the precompile returns nothing.

Pure Python (Jacobian coordinates); the spec needs a few multiplications per
session, so speed is no concern here; the clients use the same definitions.
"""

from functools import lru_cache

from .merkle import keccak256

P = 2**256 - 2**32 - 977  # the field
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # the group order
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
G = (GX, GY)
ZERO_ADDRESS_BYTES = b"\x00" * 20

Point = tuple[int, int] | None  # None is the point at infinity


def _to_jacobian(p: Point):
    return (1, 1, 0) if p is None else (p[0], p[1], 1)


def _from_jacobian(p) -> Point:
    x, y, z = p
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    return (x * z_inv * z_inv % P, y * z_inv * z_inv * z_inv % P)


def _double(p):
    x, y, z = p
    if z == 0 or y == 0:
        return (1, 1, 0)
    s = 4 * x * y * y % P
    m = 3 * x * x % P
    x2 = (m * m - 2 * s) % P
    return (x2, (m * (s - x2) - 8 * y**4) % P, 2 * y * z % P)


def _add(p, q):
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1, z2z2 = p[2] * p[2] % P, q[2] * q[2] % P
    u1, u2 = p[0] * z2z2 % P, q[0] * z1z1 % P
    s1, s2 = p[1] * z2z2 * q[2] % P, q[1] * z1z1 * p[2] % P
    if u1 == u2:
        return _double(p) if s1 == s2 else (1, 1, 0)
    h, r = (u2 - u1) % P, (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    x3 = (r * r - h3 - 2 * u1 * h2) % P
    return (x3, (r * (u1 * h2 - x3) - s1 * h3) % P, h * p[2] * q[2] % P)


@lru_cache(maxsize=4096)
def multiply(scalar: int, point: Point) -> Point:
    """scalar * point (cached: schedules replay the same seeded keys)."""
    result, addend = (1, 1, 0), _to_jacobian(point)
    for bit in bin(scalar % N)[2:]:
        result = _double(result)
        if bit == "1":
            result = _add(result, addend)
    return _from_jacobian(result)


def add(p: Point, q: Point) -> Point:
    return _from_jacobian(_add(_to_jacobian(p), _to_jacobian(q)))


def lift_x(x: int, odd: bool) -> Point:
    """The curve point with this x-coordinate and y-parity, or None."""
    if not 0 <= x < P:
        return None
    y_squared = (pow(x, 3, P) + 7) % P
    y = pow(y_squared, (P + 1) // 4, P)
    if y * y % P != y_squared:
        return None
    return (x, y if y % 2 == odd else P - y)


def encode_point(point: Point) -> bytes:
    """The 64-byte encoding x || y (the EVM's, and Ethereum's public keys')."""
    assert point is not None, "hyperx: the point at infinity has no encoding"
    return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def decode_point(encoded: bytes) -> Point:
    """The point of a 64-byte encoding, or None when it is not on the curve."""
    if len(encoded) != 64:
        return None
    x, y = int.from_bytes(encoded[:32], "big"), int.from_bytes(encoded[32:], "big")
    point = lift_x(x, y % 2 == 1)
    return point if point == (x, y) else None


def address_of_encoding(encoded: bytes) -> bytes:
    """The 20-byte address of a 64-byte public key encoding."""
    return keccak256(encoded)[12:]


def ecrecover(h: int, v: int, r: int, s: int) -> bytes:
    """The EVM precompile at 0x01: a 20-byte address, or 20 zero bytes when the
    input is not a valid signature (v not 27/28, r or s outside [1, N), r not the
    x-coordinate of a point, or the result at infinity)."""
    if v not in (27, 28) or not (0 < r < N and 0 < s < N):
        return ZERO_ADDRESS_BYTES
    big_r = lift_x(r, v == 28)
    if big_r is None:
        return ZERO_ADDRESS_BYTES
    r_inv = pow(r, -1, N)
    q = add(multiply(s * r_inv % N, big_r), multiply((-h * r_inv) % N, G))
    return ZERO_ADDRESS_BYTES if q is None else address_of_encoding(encode_point(q))


def compute_recovered_address(secret: int, encoded_point: bytes) -> bytes:
    """address(secret * E) for the 64-byte point E, through ecrecover as the
    contract computes it: ecrecover(0, 27 + parity(E.y), E.x, secret * E.x mod N).
    Only E.x and the parity of E.y count. Zero bytes when the input is invalid."""
    if len(encoded_point) != 64:
        return ZERO_ADDRESS_BYTES
    x = int.from_bytes(encoded_point[:32], "big")
    parity = encoded_point[63] & 1
    return ecrecover(0, 27 + parity, x, secret * x % N)


def compute_public_address(secret: int) -> bytes:
    """address(secret * G): whose key `secret` is, as the contract checks it."""
    return compute_recovered_address(secret, encode_point(G))


def compute_public_key(secret: int) -> bytes:
    """The 64-byte public key of a secret scalar in [1, N)."""
    # Verify the secret is a valid scalar
    assert 0 < secret < N, "hyperx: secret key out of range"
    return encode_point(multiply(secret, G))


def derive_secret(seed: bytes) -> int:
    """A secret scalar in [1, N) from a seed (the spec's parties are seeded so runs
    replay; the clients draw theirs from OS entropy)."""
    counter = 0
    while True:
        candidate = int.from_bytes(keccak256(seed + counter.to_bytes(4, "big")), "big")
        if 0 < candidate < N:
            return candidate
        counter += 1
