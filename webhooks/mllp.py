"""One HL7 delivery over MLLP: frame the message, send it to a checked address, read the ACK, decide.

MLLP (HL7 v2's Minimal Lower Layer Protocol) frames a message as VT message FS CR on a TCP stream; the
receiver answers with an ACK, framed the same way. We send in original acknowledgment mode (MSH-15/16
empty), so MSA-1 is AA (accepted: delivered), AE (application error: the receiver could not process it
now, sent again later) or AR (rejected: its type, version or processing id is not acceptable, so the
same message would be rejected again: given up). No ACK, a garbled one or one for another message,
a refused connection or a timeout is a retry. Enhanced-mode commit codes from a receiver that sends
them anyway count the same way (CA delivered, CE retry, CR give up).

A target is `mllp://host:port` (port 2575, HL7's registered port, when omitted). Its host passes the
same SSRF guard as an HTTP callback's (`webhooks.targets`), and the connection goes to the very address
checked, never to a fresh lookup. Blocking sockets with one overall deadline, like `webhooks.http`: the
deliverer runs each attempt on its own thread.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit

import hl7

from webhooks.dns import Resolver, system_resolver
from webhooks.hl7_messages import Addressing, ack_code
from webhooks.targets import TargetRefused, ascii_host, resolve_target

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
DEFAULT_PORT = 2575
MAX_ACK_BYTES = 64 * 1024
"""An ACK is a few hundred bytes; a receiver streaming more is not answering."""


class Delivery(StrEnum):
    """What an attempt's outcome means for the callback's retry schedule."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


class MllpCode(StrEnum):
    """Why an attempt ended as it did: stable, for attempt records, logs and docs."""

    ACCEPTED = "hl7_accepted"
    APPLICATION_ERROR = "hl7_application_error"
    REJECTED = "hl7_rejected"
    NO_ACK = "mllp_no_ack"
    BAD_ACK = "mllp_bad_ack"
    UNREACHABLE = "mllp_unreachable"


@dataclass(frozen=True)
class MllpOutcome:
    """One attempt's result, shaped like an HTTP attempt's (`webhooks.delivery.Outcome`): `error` is
    None when delivered; `retryable` says whether the schedule tries again."""

    delivery: Delivery
    code: MllpCode
    ack: str | None = None
    """MSA-1, when an ACK came back."""
    error: str | None = None

    @property
    def retryable(self) -> bool:
        return self.delivery is Delivery.RETRY


@dataclass(frozen=True)
class MllpTarget:
    host: str
    """As sent to the resolver (IDNA for international names)."""
    port: int
    addressing: Addressing = field(default_factory=Addressing)
    """MSH-4, -5, -6 and -11 of every message to it, from the URL's query (see `parse_mllp_target`)."""


# The query names an interface engine's addressing takes, and the MSH field each fills.
ADDRESSING_FIELDS = {"sending_facility": "MSH-4", "receiving_application": "MSH-5",
                     "receiving_facility": "MSH-6", "processing_id": "MSH-11"}
_PROCESSING_IDS = {"P", "T", "D"}
_HD_LENGTH = 227  # an HD field's length in v2.5.1


def is_mllp(target: str) -> bool:
    """Whether a callback target is an MLLP one (`mllp://...`), whatever else is wrong with it."""
    return target.strip().lower().startswith("mllp://")


def parse_mllp_target(target: str) -> MllpTarget:
    """`mllp://host[:port]`, syntax only; raises TargetRefused saying what is wrong."""
    try:
        parts = urlsplit(target.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"callback_url is malformed: {exc}") from None
    if parts.scheme != "mllp" or not parts.hostname:
        raise TargetRefused("an HL7 callback_url must be mllp://host:port, e.g. mllp://hl7.example.org:2575")
    if parts.username or parts.password:
        raise TargetRefused("an mllp:// callback_url must not carry credentials")
    if parts.path not in {"", "/"} or parts.fragment:
        raise TargetRefused("an mllp:// callback_url is a host, a port and its addressing only: no path or fragment")
    if port == 0:
        raise TargetRefused("callback_url has port 0")
    return MllpTarget(ascii_host(parts.hostname), port or DEFAULT_PORT, _addressing(parts.query))


def _addressing(query: str) -> Addressing:
    """`?receiving_application=EPIC&receiving_facility=GI&sending_facility=ENDO&processing_id=T`: what the
    engine routes on. Each at most once, in plain text without HL7's delimiters."""
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    names = [name for name, _ in pairs]
    if unknown := sorted(set(names) - set(ADDRESSING_FIELDS)):
        raise TargetRefused(f"an mllp:// callback_url takes {', '.join(ADDRESSING_FIELDS)} in its query, "
                            f"not {', '.join(unknown)}")
    if len(names) != len(set(names)):
        raise TargetRefused("an mllp:// callback_url names each addressing field once")
    values = dict(pairs)
    for name, value in values.items():
        if len(value) > _HD_LENGTH or any(c in value for c in "|^~\\&\r\n"):
            raise TargetRefused(f"{name} ({ADDRESSING_FIELDS[name]}) must be at most {_HD_LENGTH} characters "
                                "without HL7's delimiters (| ^ ~ \\ &)")
    if values.get("processing_id", "P") not in _PROCESSING_IDS:
        raise TargetRefused("processing_id (MSH-11) is P (production), T (training) or D (debugging)")
    return Addressing(**values)


def resolve_mllp_target(target: str, allow_private: bool, resolver: Resolver = system_resolver) -> list[str]:
    """The target host's addresses, every one permitted (the HTTP callbacks' rules); raises
    TargetRefused (final) or ResolutionFailed (retry at delivery) otherwise."""
    parsed = parse_mllp_target(target)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    # The same checks as an HTTP callback's, on the same host and port: one guard, not two.
    return resolve_target(f"https://{host}:{parsed.port}/", allow_private, allow_http=False, resolver=resolver)


def frame(message: str) -> bytes:
    """A message as MLLP carries it: VT, the UTF-8 text, FS CR."""
    return START_BLOCK + message.encode() + END_BLOCK


def send(target: str, message: str, control_id: str, *, allow_private: bool, timeout: float,
         resolver: Resolver = system_resolver) -> MllpOutcome:
    """Send `message` (whose MSH-10 is `control_id`) to `target` and read its ACK, all within `timeout`
    seconds. Raises TargetRefused / ResolutionFailed as an HTTP attempt does (the caller records them)."""
    addresses = resolve_mllp_target(target, allow_private, resolver)
    port = parse_mllp_target(target).port
    deadline = time.monotonic() + timeout
    sock: socket.socket | None = None
    for index, address in enumerate(addresses):
        try:
            sock = _connect(address, port, deadline)
            break
        except TimeoutError:
            return MllpOutcome(Delivery.RETRY, MllpCode.UNREACHABLE, error=f"no connection within {timeout:g} s")
        except OSError as exc:
            # The name's next checked address (IPv6 when IPv4 refuses), within the deadline.
            if index + 1 < len(addresses) and deadline - time.monotonic() > 0.05:
                continue
            reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else \
                f"network error: {exc.__class__.__name__}"
            return MllpOutcome(Delivery.RETRY, MllpCode.UNREACHABLE, error=reason)
    if sock is None:
        raise AssertionError("resolve_target returned no address")
    try:
        with sock:
            answer = _exchange(sock, frame(message), deadline)
    except TimeoutError:
        return MllpOutcome(Delivery.RETRY, MllpCode.NO_ACK, error=f"no ACK within {timeout:g} s")
    except OSError as exc:
        return MllpOutcome(Delivery.RETRY, MllpCode.NO_ACK, error=f"network error: {exc.__class__.__name__}")
    return judge(answer, control_id)


def _connect(address: str, port: int, deadline: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(_left(deadline))
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _exchange(sock: socket.socket, data: bytes, deadline: float) -> bytes | None:
    """Send, and read one framed answer (None: the receiver closed without one)."""
    sock.settimeout(_left(deadline))
    sock.sendall(data)
    received = b""
    while END_BLOCK not in received:
        if len(received) > MAX_ACK_BYTES:
            return received
        sock.settimeout(_left(deadline))
        chunk = sock.recv(4096)
        if not chunk:
            return received or None
        received += chunk
    return received


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the attempt's overall deadline passed")
    return left


def judge(answer: bytes | None, control_id: str) -> MllpOutcome:
    """What an answer to the message `control_id` means for the schedule."""
    if answer is None:
        return MllpOutcome(Delivery.RETRY, MllpCode.NO_ACK, error="the receiver closed the connection without an ACK")
    start, end = answer.find(START_BLOCK), answer.find(END_BLOCK)
    if start < 0 or end < start:
        return MllpOutcome(Delivery.RETRY, MllpCode.BAD_ACK, error="the answer is not an MLLP-framed message")
    try:
        code, answered, text = ack_code(answer[start + 1:end].decode("utf-8", errors="replace"))
    except (hl7.ParseException, ValueError, KeyError, IndexError) as exc:
        return MllpOutcome(Delivery.RETRY, MllpCode.BAD_ACK, error=f"the answer is not an HL7 ACK ({exc})")
    if answered != control_id:
        return MllpOutcome(Delivery.RETRY, MllpCode.BAD_ACK, code,
                           f"the ACK answers message {answered!r}, not {control_id!r}")
    detail = f": {text}" if text else ""
    if code in {"AA", "CA"}:
        return MllpOutcome(Delivery.DELIVERED, MllpCode.ACCEPTED, code)
    if code in {"AE", "CE"}:
        return MllpOutcome(Delivery.RETRY, MllpCode.APPLICATION_ERROR, code, f"HL7 {code} (application error){detail}")
    if code in {"AR", "CR"}:
        return MllpOutcome(Delivery.GIVE_UP, MllpCode.REJECTED, code, f"HL7 {code} (rejected){detail}")
    return MllpOutcome(Delivery.RETRY, MllpCode.BAD_ACK, code,
                       f"the ACK's code {code!r} is not an HL7 acknowledgment code")
