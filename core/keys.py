"""Every Redis key, queue and task name EndoScribe uses, in one place.

A tenant (an API key's identity) is stored as `owner` in keys and fields alike, for the data already in
Redis: the key strings say `owner`, the code says `tenant`.
"""

PREFIX = "endoscribe"

TENANT_FIELD = "owner"
"""The field of a job's or a session's hash (and of a session's stored meta) that holds its tenant: named
`owner` as earlier versions stored it; the codecs map it to and from `tenant`."""

TRANSCRIBE_QUEUE = "transcribe"
TRANSCRIBE_TASK = "endoscribe.transcribe"


def job_key(job_id: str) -> str:
    """Hash with the job record's fields."""
    return f"{PREFIX}:job:{job_id}"


def audio_key(job_id: str) -> str:
    """The uploaded audio bytes, deleted when the job ends."""
    return f"{PREFIX}:audio:{job_id}"


def kept_audio_key(job_id: str) -> str:
    """Set, with the job's verification window as its TTL, while an ended job's audio in object storage is kept."""
    return f"{PREFIX}:audio-kept:{job_id}"


def quality_key(tenant: str) -> str:
    """Sorted set of a key's PHI-free quality records (JSON members), scored by the job's end time."""
    return f"{PREFIX}:quality:{tenant}"


def result_key(job_id: str) -> str:
    """The stored transcript (JSON), rendered to each format at fetch time."""
    return f"{PREFIX}:result:{job_id}"


def lease_key(job_id: str) -> str:
    """The lease of the worker running a job, so a redelivered copy does not run beside it (stored under
    `lock:` for the keys already in Redis)."""
    return f"{PREFIX}:lock:{job_id}"


def worker_key(worker: str) -> str:
    """A worker's heartbeat (JSON), expiring when the worker stops writing it."""
    return f"{PREFIX}:worker:{worker}"


WORKER_PATTERN = f"{PREFIX}:worker:*"

WORKERS = f"{PREFIX}:workers"
"""Sorted set of worker names by the epoch their heartbeat expires: `/ready` counts it without a SCAN."""

OPEN_JOBS = f"{PREFIX}:jobs:open"
"""Sorted set of every job not yet ended, scored by the epoch its task was last sent: what recovery walks."""

OPEN_JOBS_INDEXED = f"{PREFIX}:jobs:open:indexed"
"""Set once the jobs stored before OPEN_JOBS existed have been added to it."""

READY = f"{PREFIX}:jobs:ready"
"""Sorted set of queued jobs a worker may claim, high-priority lane first (see `ready_score`): what a
worker's scheduler pulls to fill its batches beyond the job its task message named."""

HIGH_PRIORITY_OFFSET = 1e10
"""Subtracted from a high-priority job's READY score, so the whole lane sorts before normal work."""


def ready_score(enqueued_at: float, priority: str) -> float:
    return enqueued_at - HIGH_PRIORITY_OFFSET if priority == "high" else enqueued_at


SWEEP_LEASE = f"{PREFIX}:sweep"
"""Leased (it lapses) by the one process running the recovery sweep this interval."""

AUDIO_SWEEP_LEASE = f"{PREFIX}:sweep:audio"
"""Leased by the one process deleting object-storage audio of ended jobs this interval."""


def tenant_jobs_key(tenant: str) -> str:
    """Sorted set of an API key's open jobs (queued or processing), scored by when each was admitted."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:open"


TENANT_JOBS_INDEXED = f"{PREFIX}:owner:indexed"
"""Set once the open jobs stored before the per-key sets existed have been added to their key's set."""


def tenant_history_key(tenant: str) -> str:
    """Sorted set of every stored job of an API key, scored by its creation epoch: what `GET /v1/jobs` pages."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:jobs"


TENANT_HISTORY_INDEXED = f"{PREFIX}:owner:jobs:indexed"
"""Set once the jobs stored before the per-key history index existed have been added to it."""


def tenant_audio_key(tenant: str, day: str) -> str:
    """Seconds of audio charged to an API key on one UTC day (`YYYY-MM-DD`)."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:audio:{day}"


def vocabularies_key(tenant: str) -> str:
    """Hash of a key's custom vocabularies: vocabulary id -> its JSON record. Expires
    `custom_ttl_seconds` after the key last stored, read or used one; DELETE /v1/vocabularies/{id} removes one."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:vocabularies"


LIMITS_PREFIX = f"{PREFIX}:limits"
"""Prefix of the `limits` library's rate-window keys (requests per key, redeliveries per job)."""


def webhook_key(job_id: str) -> str:
    """Hash with a job's callback target, signing id and every delivery attempt."""
    return f"{PREFIX}:webhook:{job_id}"


WEBHOOK_DUE = f"{PREFIX}:webhooks:due"
"""Sorted set of job ids by the epoch second their next delivery attempt is due."""

PROBE = f"{PREFIX}:probe"
"""Written to check that Redis accepts writes again after a fault."""

JOB_METRICS = f"{PREFIX}:metrics:jobs"
"""Hash of job counters and histogram buckets, written as jobs are stored and ended (`core.job_metrics`)."""

LIVE_TASK = "endoscribe.live"
"""Wakes a worker to serve live sessions (no argument: it takes whichever `LIVE_SESSIONS` nobody holds)."""

LIVE_SESSIONS = f"{PREFIX}:sessions:live"
"""Sorted set of open live sessions by creation epoch: what workers pull sessions to serve from."""

LIVE_WAKE = f"{PREFIX}:sessions:wake"
"""Set for a moment when the recovery sweep sent the live task, so sweeps do not pile up copies of it."""

LIVE_WAKE_SENT = f"{PREFIX}:sessions:wake:sent"
"""Set for a moment when an API process sent the live task, so a burst of chunks or connections sends one."""

ENDING_SESSIONS = f"{PREFIX}:sessions:ending"
"""Sorted set of ending sessions by the epoch their end was asked for: what the API's sweep makes jobs of
when no worker has within a few seconds."""

SESSION_SWEEP_LEASE = f"{PREFIX}:sweep:sessions"
"""Held by the one API process making jobs of stranded sessions this second."""

LIVE_TOKEN_SECRET = f"{PREFIX}:sessions:token-secret"
"""The random HMAC key of stream tokens, when `ENDOSCRIBE_LIVE_TOKEN_SECRET` is empty (made once)."""


def session_key(session_id: str) -> str:
    """Hash of a live session: owner, job id, status, chunks stored, what its worker committed (small: every
    look of its worker reads it)."""
    return f"{PREFIX}:session:{session_id}"


def session_meta_key(session_id: str) -> str:
    """A session's options and callback (JSON `SessionMeta`): read once, when a worker takes the session."""
    return f"{PREFIX}:session:{session_id}:meta"


def session_audio_key(session_id: str) -> str:
    """The session's audio so far (16 kHz mono s16le), appended chunk by chunk; deleted when it becomes a job."""
    return f"{PREFIX}:session:{session_id}:audio"


def session_events_key(session_id: str) -> str:
    """Stream of the session's events (partial, final, lagging, ended, error), relayed to its clients."""
    return f"{PREFIX}:session:{session_id}:events"


def session_said_key(session_id: str) -> str:
    """Hash of a dictating session's finals (final number -> its formatted text and times), so a worker
    that takes the session over rebuilds its document (`worker.live.dictating`); expires with the session."""
    return f"{PREFIX}:session:{session_id}:said"


def session_commands_key(session_id: str) -> str:
    """List of the commands a session's client sent (buttons, keys), each with the audio stored when it
    came (`core.session_commands`); read into its job's options when it ends."""
    return f"{PREFIX}:session:{session_id}:commands"


def session_lease_key(session_id: str) -> str:
    """Held by the worker serving a session, so two workers never decode it at once."""
    return f"{PREFIX}:session:{session_id}:lease"


def tenant_sessions_key(tenant: str) -> str:
    """Sorted set of an API key's open sessions, scored by creation epoch."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:sessions"


def tenant_streams_key(tenant: str) -> str:
    """Sorted set of an API key's open session streams (WebSocket and SSE, every API replica): lease id
    -> the epoch its lease lapses, so the streams of a process that died stop counting."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:streams"


def session_writer_key(session_id: str) -> str:
    """The lease id of the one WebSocket that may append a session's audio (the newest connection)."""
    return f"{PREFIX}:session:{session_id}:writer"
