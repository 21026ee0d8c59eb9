"""Restore's steps, one module per job, shared by the modes that restore (restore, migrate, drill).

- ``plan``: which snapshot, which indices and data streams, under which names (``Plan``);
- ``existing``: what of the plan already exists on the destination, and the existing-index policy;
- ``start``: sending the restore once, and what a lost answer or an interruption means;
- ``recovery``: judging the answer and waiting until the restored indices have recovered;
- ``readback``: reading every restored index back (presence, size, document count).
"""
