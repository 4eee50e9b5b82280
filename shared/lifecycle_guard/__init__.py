"""lifecycle-guard's domain package, shipped to the Lambdas as a layer.

Modules by concept: ``config`` (the validated config), ``stages`` (the portal's stage order), ``rules`` (pure
decisions), ``planning`` (finding and deciding records, cut into fix jobs), ``fixing`` (batched writes,
clear-then-set, read-back, crash recovery), ``journal`` and ``undo``, ``workflows`` (prevention flows),
``verification``, ``audit``, ``reporting``; ``gateway`` is the only module that speaks HTTP to HubSpot, ``budget``
paces it. ``steps`` has one function per state of the state machine; ``runs``, ``storage`` and ``runtime`` hold
the run's shared state in DynamoDB and S3 and the Lambda wiring.
"""
