"""Persistence by role: ids in, frozen domain objects out.

Each role is a Protocol in its own module, documented method by method; ``base.Storage``
is their composition with ``base.Connection`` (ping, pool use, close), which
``sql.storage.SqlStorage`` implements. Each service names the
roles it uses (a Protocol beside it, e.g. ``honed.service.suggestions.SuggestionRoles``),
so what it can touch is visible in its constructor and checked by mypy.

The roles (module: Protocol):

- tenants: ``TenantStore``, clients and API tokens;
- experiments: ``ExperimentStore``;
- suggestions: ``SuggestionStore``, suggestions, their leases and queued suggestions;
- observations: ``ObservationStore``, observations and idempotency keys;
- optimizer: ``OptimizerQueue``, what optimizer processes use (work, leases, fit inputs,
  candidates, heartbeats), and ``OptimizerSignals``, what suggestion requests and users
  see of the optimizer (fit markers, demand, liveness, status);
- projects: ``ProjectStore``;
- runs: ``TrainingRunStore``, training runs and checkpoints;
- analyses: ``ModelAnalyses``, each experiment's newest model analysis;
- files: ``RunFileStore``, what is known of the files of training runs (their bytes are in
  a file store: ``contents.FileContents``, e.g. ``local_contents.LocalContents``);
- tags: ``TagStore``, a client's tags and the runs that carry them.

Conventions every role keeps (a method's docstring states only its own):

- Every method runs in its own short transaction and returns snapshots: changing the store
  later never changes an object already returned.
- Ids that do not exist, and ids of a record of another experiment than the one named,
  raise NotFoundError where a method says so. Any method raises ServiceUnavailableError
  when the database cannot be reached or stays busy, and ConflictError when a write
  breaks a uniqueness the store enforces.
- Deletes are soft: deleted records are kept and listed only when asked for.
- Locks. A method whose ``Locks`` line says *write* holds, on SQLite, the database's write
  lock for its whole transaction (``BEGIN IMMEDIATE``), so writes are serialized and each
  sees every write committed before it; reads never wait (WAL). On PostgreSQL a write
  locks the rows it changes until it commits (an UPDATE or DELETE of a row locks it
  ``FOR NO KEY UPDATE`` or stronger; an INSERT takes ``KEY SHARE`` on the rows its foreign
  keys name), plus the explicit row locks its ``Locks`` line names. *Read* takes no locks.
"""
